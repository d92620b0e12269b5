"""The asymmetric two-view network (CroCo ViT encoder, two cross-attending decoders, heads)."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from ..errors import CheckpointError
from .config import normalize_config, rope_base
from .heads import DPTHead, LinearHead, postprocess
from .layers import Block, DecoderBlock, PatchEmbed, layer_norm, rope_tables

Pred = dict[str, Tensor]


class Dust3R(nn.Module):
    """DUSt3R with the official parameter names, so official state dicts load as they are.

    `forward(view1, view2)` is the official model's call. The inference driver instead calls
    `encode` once per image and `predict` per batch of pairs (forward = encode x2 + predict).
    """

    def __init__(self, config: Mapping[str, Any]):
        super().__init__()
        cfg = self.config = normalize_config(config)
        ed, dd, p = cfg["enc_embed_dim"], cfg["dec_embed_dim"], cfg["patch_size"]
        self.patch_size = p
        self.rope_base = rope_base(cfg["pos_embed"])
        self.enc_head_dim = ed // cfg["enc_num_heads"]
        self.dec_head_dim = dd // cfg["dec_num_heads"]

        # Registration order = official state-dict order.
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dd))  # CroCo pretraining leftover, unused
        self.patch_embed = PatchEmbed(ed, p)
        self.enc_blocks = nn.ModuleList(
            Block(ed, cfg["enc_num_heads"], cfg["mlp_ratio"]) for _ in range(cfg["enc_depth"]))
        self.enc_norm = layer_norm(ed)
        self.decoder_embed = nn.Linear(ed, dd)
        self.dec_blocks = self._decoder(cfg)
        self.dec_norm = layer_norm(dd)
        self.dec_blocks2 = self._decoder(cfg)
        self.downstream_head1 = self._head(cfg)
        self.downstream_head2 = self._head(cfg)

    @staticmethod
    def _decoder(cfg: dict) -> nn.ModuleList:
        return nn.ModuleList(DecoderBlock(cfg["dec_embed_dim"], cfg["dec_num_heads"],
                                          cfg["mlp_ratio"]) for _ in range(cfg["dec_depth"]))

    @staticmethod
    def _head(cfg: dict) -> nn.Module:
        if cfg["head_type"] == "linear":
            return LinearHead(cfg["dec_embed_dim"], cfg["patch_size"])
        return DPTHead(cfg["enc_embed_dim"], cfg["dec_embed_dim"], cfg["dec_depth"],
                       cfg["patch_size"], cfg["dpt_layer_dims"], cfg["dpt_feature_dim"],
                       cfg["dpt_last_dim"])

    def encode(self, img: Tensor) -> tuple[Tensor, Tensor]:
        """Images [B, 3, H, W] in [-1, 1] -> tokens [B, S, enc_dim] after enc_norm, and their
        patch positions pos [B, S, 2] = (row, col)."""
        x, pos = self.patch_embed(img)
        rope = rope_tables(pos, self.enc_head_dim, self.rope_base, compute_dtype(img))
        for block in self.enc_blocks:
            x = block(x, rope)
        return self.enc_norm(x), pos

    def decode(self, feat1: Tensor, pos1: Tensor, feat2: Tensor,
               pos2: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Both decoders; per view [encoder output, block 1, ..., block D (after dec_norm)]."""
        dtype = compute_dtype(feat1)
        rope1 = rope_tables(pos1, self.dec_head_dim, self.rope_base, dtype)
        rope2 = rope_tables(pos2, self.dec_head_dim, self.rope_base, dtype)
        out1, out2 = [feat1], [feat2]
        x1, x2 = self.decoder_embed(feat1), self.decoder_embed(feat2)
        for block1, block2 in zip(self.dec_blocks, self.dec_blocks2):
            # Each view attends to the other view's previous layer, not its updated tokens.
            x1, x2 = block1(x1, x2, rope1, rope2), block2(x2, x1, rope2, rope1)
            out1.append(x1)
            out2.append(x2)
        out1[-1], out2[-1] = self.dec_norm(out1[-1]), self.dec_norm(out2[-1])
        return out1, out2

    def predict(self, feat1: Tensor, pos1: Tensor, feat2: Tensor, pos2: Tensor,
                shape: tuple[int, int], shape2: tuple[int, int] | None = None
                ) -> tuple[Pred, Pred]:
        """Decoders, heads and post-processing for B encoded pairs of images of size `shape`
        = (H, W) (`shape2` for the second images when their size differs).

        Under bfloat16 autocast the heads run in bfloat16 too; otherwise (float32, float16
        autocast) in float32. The post-processing and the outputs are float32.
        """
        dec1, dec2 = self.decode(feat1, pos1, feat2, pos2)
        device_type = feat1.device.type
        with torch.autocast(device_type, dtype=torch.bfloat16,
                            enabled=head_dtype(device_type) == torch.bfloat16):
            raw1 = self.downstream_head1(dec1, tuple(shape))
            raw2 = self.downstream_head2(dec2, tuple(shape2 or shape))
        pred1, pred2 = postprocess(raw1), postprocess(raw2)
        return pred1, {"pts3d_in_other_view": pred2["pts3d"], "conf": pred2["conf"]}

    def forward(self, view1: dict, view2: dict) -> tuple[Pred, Pred]:
        shape1, shape2 = image_shape(view1), image_shape(view2)
        feat1, pos1 = self.encode(view1["img"])
        feat2, pos2 = self.encode(view2["img"])
        return self.predict(feat1, pos1, feat2, pos2, shape1, shape2)


def compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype matrix products run in for tensors on x's device: autocast's or float32."""
    device_type = x.device.type
    return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) \
        else torch.float32


def head_dtype(device_type: str) -> torch.dtype:
    """The heads' precision: bfloat16 under bfloat16 autocast, else float32 (float16 could
    overflow in the DPT's convolutions, and the official heads always run in float32)."""
    if torch.is_autocast_enabled(device_type) and \
            torch.get_autocast_dtype(device_type) == torch.bfloat16:
        return torch.bfloat16
    return torch.float32


def image_shape(view: dict) -> tuple[int, int]:
    """(H, W) of a view's images, checked against its `true_shape` rows when present."""
    shape = tuple(view["img"].shape[-2:])
    true_shape = view.get("true_shape")
    if true_shape is not None:
        rows = {tuple(row) for row in torch.as_tensor(true_shape).reshape(-1, 2).tolist()}
        if rows != {shape}:
            raise ValueError(f"true_shape {sorted(rows)} does not match the image size {shape}: "
                             "images are expected in their own orientation, not transposed")
    return shape


def shared_parameter_names(model: nn.Module) -> list[list[str]]:
    """Groups of state-dict names that are one tensor (the DPT `layer_rn.N` aliases)."""
    groups = defaultdict(list)
    for name, param in model.named_parameters(remove_duplicate=False):
        groups[id(param)].append(name)
    return [names for names in groups.values() if len(names) > 1]


def _complete_state_dict(model: nn.Module, state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The official dict with what a valid file may leave out filled in, checked key by key."""
    sd = dict(state_dict)
    for names in shared_parameter_names(model):
        present = [name for name in names if name in sd]
        for name in names:
            if present and name not in sd:
                sd[name] = sd[present[0]]
    if not any(key.startswith("dec_blocks2.") for key in sd):  # CroCo-pretrained weights
        sd.update({"dec_blocks2." + key[len("dec_blocks."):]: value
                   for key, value in state_dict.items() if key.startswith("dec_blocks.")})

    expected = model.state_dict()
    missing = [key for key in expected if key not in sd]
    unexpected = [key for key in sd if key not in expected]
    wrong = [f"{key} {_describe(sd[key])} (network: {list(expected[key].shape)})"
             for key in expected if key in sd and not (
                 isinstance(sd[key], Tensor) and sd[key].is_floating_point()
                 and sd[key].shape == expected[key].shape)]
    problems = [f"{len(items)} {what}: {_first(items)}" for what, items in (
        ("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong))
        if items]
    if problems:
        cfg = model.config
        raise CheckpointError(
            f"the weights do not fit the network ({cfg['head_type']} head, encoder "
            f"{cfg['enc_embed_dim']}x{cfg['enc_depth']}, decoder {cfg['dec_embed_dim']}x"
            f"{cfg['dec_depth']}): " + "; ".join(problems))
    return sd


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"{list(value.shape)} {str(value.dtype).removeprefix('torch.')}"
    return type(value).__name__


def _first(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items) - n} more)" if len(items) > n else "")


def build_model(config: Mapping[str, Any], state_dict: Mapping[str, Tensor] | None = None
                ) -> Dust3R:
    """The network for a hub `config.json` dict, in eval mode and float32.

    Without `state_dict` the weights are random (built on the current default device, so
    `with torch.device("meta")` builds it without allocating). With one, the module is built
    on the meta device and takes the given tensors as its parameters (no second copy); either
    DPT alias name set is accepted. Any mismatch raises CheckpointError before anything loads.
    """
    if state_dict is None:
        return Dust3R(config).float().eval()
    with torch.device("meta"):
        model = Dust3R(config)
    model.load_state_dict(_complete_state_dict(model, state_dict), assign=True)
    return model.float().eval()
