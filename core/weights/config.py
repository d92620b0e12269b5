"""The released models and network configs: released names, and the model constructor strings
of `.pth` files (training or inference spelling), read with `ast`, never evaluated."""
from __future__ import annotations

import ast
import math
from typing import Any, Mapping, Union

from ..errors import CheckpointError
from ..model import normalize_config
from ..options import MODELS

RELEASED = {model.id: model.repo for model in MODELS}  # name -> Hugging Face repo id
_VIT_LARGE_BASE_DECODER = {"pos_embed": "RoPE100", "enc_embed_dim": 1024, "enc_depth": 24,
                           "enc_num_heads": 16, "dec_embed_dim": 768, "dec_depth": 12,
                           "dec_num_heads": 12}
RELEASED_CONFIGS = {
    m.id: normalize_config({**_VIT_LARGE_BASE_DECODER, "img_size": [m.image_size] * 2,
                            "head_type": m.head})
    for m in MODELS
}
MODEL_CLASS = "AsymmetricCroCo3DStereo"


def parse_config(spec: Union[str, Mapping[str, Any]]) -> dict:
    """Normalized network config from a released name ("512_dpt"), a `.pth` constructor
    string (`AsymmetricCroCo3DStereo(...)`, training or inference spelling) or a config dict."""
    if isinstance(spec, Mapping):
        return normalize_config(spec)
    if not isinstance(spec, str):
        raise CheckpointError(
            f"a model config must be a string or a dict, got {type(spec).__name__}")
    if spec in RELEASED_CONFIGS:
        return dict(RELEASED_CONFIGS[spec])
    return normalize_config(_constructor_kwargs(spec))


def _constructor_kwargs(text: str) -> dict:
    """Keyword arguments of `AsymmetricCroCo3DStereo(k=v, ...)`, read with ast, never eval."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise CheckpointError(f"cannot parse the model constructor {text!r}: {exc.msg}") from exc
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
        raise CheckpointError(f"not a model constructor: {text!r}")
    if call.func.id != MODEL_CLASS:
        raise CheckpointError(f"the checkpoint is a {call.func.id}, not a DUSt3R "
                              f"{MODEL_CLASS}; this add-on runs DUSt3R checkpoints only")
    if call.args or any(kw.arg is None for kw in call.keywords):
        raise CheckpointError(f"the model constructor may only have keyword arguments: {text!r}")
    return {kw.arg: _literal(kw.value, text) for kw in call.keywords}


def _literal(node: ast.AST, text: str) -> Any:
    """A constant, tuple or list of them, with `inf` allowed (the official strings use it)."""
    if isinstance(node, ast.Name) and node.id == "inf":
        return math.inf
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _literal(node.operand, text)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value
    if isinstance(node, (ast.Tuple, ast.List)):
        return [_literal(element, text) for element in node.elts]
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool,
                                                                  type(None))):
        return node.value
    raise CheckpointError(
        f"unsupported value {ast.unparse(node)!r} in the model constructor {text!r}")
