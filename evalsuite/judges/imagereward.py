"""ImageReward (Xu et al. 2023): BLIP ViT-L image encoder + BERT text encoder with
cross-attention to the image, and an MLP on the [CLS] feature.

Re-implemented on current libraries (the ``image-reward`` package imports transformers
internals that no longer exist). Facts from upstream (github THUDM/ImageReward):

* ``ImageReward/ImageReward.py``: ``ImageReward`` = ``blip`` (``BLIP_Pretrain(image_size=224,
  vit='large', med_config)``) + ``mlp`` (``MLP(768)``); score = ``mlp(text_output
  .last_hidden_state[:, 0])``, then ``(r - 0.16717362830052426) / 1.0333394966054072``;
  text tokenised with ``padding='max_length', truncation=True, max_length=35``; the image
  attention mask is all ones; preprocessing ``Resize(224, BICUBIC)``, ``CenterCrop(224)``,
  RGB, ``ToTensor``, ``Normalize`` with the OpenAI CLIP mean/std.
* the MLP's ``nn.Sequential`` is Linear(768,1024), Dropout(0.2), Linear(1024,128),
  Dropout(0.2), Linear(128,64), Dropout(0.1), Linear(64,16), Linear(16,1) - no activations,
  so the state-dict indices are 0, 2, 4, 6, 7.
* ``models/BLIP/blip_pretrain.py``: ``visual_encoder`` (``create_vit('large')``: ViT-L/16,
  width 1024, depth 24, 16 heads, LayerNorm eps 1e-6, exact GELU, qkv bias - ``blip.py`` and
  ``vit.py``), ``text_encoder = BertModel(med_config, add_pooling_layer=False)`` with
  ``encoder_width`` set to the vision width (1024), plus ``vision_proj`` / ``text_proj``
  (unused for the score but present in the checkpoint); tokenizer ``bert-base-uncased`` with
  ``[DEC]`` (bos) and ``[ENC]`` added (``blip.py init_tokenizer``), hence vocab 30524.
* ``models/BLIP/med.py``: BERT without token-type embeddings, every layer self-attention ->
  cross-attention (keys/values from ``encoder_width``) -> feed-forward, each with residual +
  LayerNorm; bidirectional self-attention with the additive -10000 padding mask.
* ``utils.py load``: ``torch.load(ImageReward.pt)`` is the model's state dict, loaded with
  ``strict=False``; we load it strictly instead (missing/unexpected keys are an error).

What is reused and what is hand-written: the vision tower is transformers' ``BlipVisionModel``
(the same computation as BLIP's ViT: class token + learned positions, pre-norm blocks with a
fused qkv, final LayerNorm, no pre-LayerNorm), fed through the key-remapping table
``VISION_KEYS``. The text encoder is written here with med.py's module names, because
transformers' ``BertModel`` cannot express it: it only allows cross-attention in decoder
mode (causal self-attention), and it always has token-type embeddings that BLIP lacks.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.judges.base import Judge, torch_dtype
from evalsuite.media import open_image
from evalsuite.types import PointItem, Score

HUB_REPO = "THUDM/ImageReward"
# README-only child of 9fabc27 (whose tree lists ImageReward.pt + med_config.json):
# https://huggingface.co/THUDM/ImageReward/commit/ba3af6204edef2c89cb0e47a0a7c62b9b2fc8514
HUB_REVISION = "ba3af6204edef2c89cb0e47a0a7c62b9b2fc8514"
CHECKPOINT = "ImageReward.pt"
MED_CONFIG = "med_config.json"
TOKENIZER_ID = "bert-base-uncased"  # blip.py init_tokenizer
# A checkpoint folder may carry this file to describe a non-ViT-L vision tower (test fixtures);
# the official repo has none, so ViT-L from create_vit('large') is used.
VIT_CONFIG = "vit_config.json"
VIT_LARGE = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
             "num_attention_heads": 16, "image_size": 224, "patch_size": 16}
MAX_LENGTH = 35
IMAGE_SIZE = 224
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
REWARD_MEAN = 0.16717362830052426
REWARD_STD = 1.0333394966054072
MLP_DIMS = (1024, 128, 64, 16, 1)
MLP_DROPOUT = (0.2, 0.2, 0.1)  # after the first three Linear layers

# Upstream (BLIP vit.py) name -> transformers BlipVisionModel name, under blip.visual_encoder.
VISION_KEYS: list[tuple[str, str]] = [
    (r"cls_token", r"embeddings.class_embedding"),
    (r"pos_embed", r"embeddings.position_embedding"),
    (r"patch_embed\.proj\.(weight|bias)", r"embeddings.patch_embedding.\1"),
    (r"blocks\.(\d+)\.norm1\.(weight|bias)", r"encoder.layers.\1.layer_norm1.\2"),
    (r"blocks\.(\d+)\.attn\.qkv\.(weight|bias)", r"encoder.layers.\1.self_attn.qkv.\2"),
    (r"blocks\.(\d+)\.attn\.proj\.(weight|bias)", r"encoder.layers.\1.self_attn.projection.\2"),
    (r"blocks\.(\d+)\.norm2\.(weight|bias)", r"encoder.layers.\1.layer_norm2.\2"),
    (r"blocks\.(\d+)\.mlp\.fc(1|2)\.(weight|bias)", r"encoder.layers.\1.mlp.fc\2.\3"),
    (r"norm\.(weight|bias)", r"post_layernorm.\1"),
]
_VPREFIX = "blip.visual_encoder."
# A non-learned buffer (arange) that old transformers saved with BLIP's BERT; accepted when
# present (checked to be the arange), not required when absent.
OPTIONAL_BUFFERS = ("blip.text_encoder.embeddings.position_ids",)


def _rename(key: str, table: list[tuple[str, str]]) -> str | None:
    for pat, rep in table:
        if re.fullmatch(pat, key):
            return re.sub(pat, rep, key)
    return None


def upstream_to_ours(sd: dict[str, Any]) -> dict[str, Any]:
    """Rename upstream vision keys to BlipVisionModel's; everything else is kept as is.
    A vision key with no rule stays under its upstream name, so the strict load reports it."""
    out = {}
    for k, v in sd.items():
        if k.startswith(_VPREFIX):
            new = _rename(k[len(_VPREFIX):], VISION_KEYS)
            k = _VPREFIX + new if new is not None else k
        out[k] = v
    return out


# The inverse table (BlipVisionModel name -> upstream), to write checkpoints in the real format.
VISION_KEYS_INVERSE: list[tuple[str, str]] = [
    (r"embeddings\.class_embedding", r"cls_token"),
    (r"embeddings\.position_embedding", r"pos_embed"),
    (r"embeddings\.patch_embedding\.(weight|bias)", r"patch_embed.proj.\1"),
    (r"encoder\.layers\.(\d+)\.layer_norm1\.(weight|bias)", r"blocks.\1.norm1.\2"),
    (r"encoder\.layers\.(\d+)\.self_attn\.qkv\.(weight|bias)", r"blocks.\1.attn.qkv.\2"),
    (r"encoder\.layers\.(\d+)\.self_attn\.projection\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
    (r"encoder\.layers\.(\d+)\.layer_norm2\.(weight|bias)", r"blocks.\1.norm2.\2"),
    (r"encoder\.layers\.(\d+)\.mlp\.fc(1|2)\.(weight|bias)", r"blocks.\1.mlp.fc\2.\3"),
    (r"post_layernorm\.(weight|bias)", r"norm.\1"),
]


def ours_to_upstream(sd: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`upstream_to_ours` (used to write checkpoints in the real format)."""
    out = {}
    for k, v in sd.items():
        if k.startswith(_VPREFIX):
            new = _rename(k[len(_VPREFIX):], VISION_KEYS_INVERSE)
            if new is None:
                raise KeyError(f"no upstream name for {k}")
            k = _VPREFIX + new
        out[k] = v
    return out


def imagereward_preprocess(image):
    """Upstream ``_transform(224)`` (ImageReward/ImageReward.py: Resize(224, BICUBIC),
    CenterCrop(224), convert("RGB"), ToTensor, Normalize) for a PIL image as stored ->
    (3, 224, 224) float tensor."""
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    image = TF.resize(image, IMAGE_SIZE, interpolation=InterpolationMode.BICUBIC)
    image = TF.center_crop(image, IMAGE_SIZE).convert("RGB")
    return TF.normalize(TF.to_tensor(image), MEAN, STD)


def _build_modules():
    """Module classes, defined lazily so importing this file does not import torch."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class SelfOutput(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.dense = nn.Linear(cfg["hidden_size"], cfg["hidden_size"])
            self.LayerNorm = nn.LayerNorm(cfg["hidden_size"], eps=cfg["layer_norm_eps"])

        def forward(self, x, residual):
            return self.LayerNorm(self.dense(x) + residual)

    class SelfAttention(nn.Module):
        def __init__(self, cfg, kv_width):
            super().__init__()
            h = cfg["hidden_size"]
            self.heads = cfg["num_attention_heads"]
            self.query = nn.Linear(h, h)
            self.key = nn.Linear(kv_width, h)
            self.value = nn.Linear(kv_width, h)

        def forward(self, x, kv, mask):
            b, n, h = x.shape
            d = h // self.heads

            def split(t):
                return t.view(b, -1, self.heads, d).transpose(1, 2)

            q, k, v = split(self.query(x)), split(self.key(kv)), split(self.value(kv))
            # softmax(q k^T / sqrt(d) + mask) v, mask additive (0 / -10000) as med.py
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1 / math.sqrt(d))
            return out.transpose(1, 2).reshape(b, n, h)

    class Attention(nn.Module):
        def __init__(self, cfg, kv_width):
            super().__init__()
            self.self = SelfAttention(cfg, kv_width)
            self.output = SelfOutput(cfg)

        def forward(self, x, kv, mask):
            return self.output(self.self(x, kv, mask), x)

    class Intermediate(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.dense = nn.Linear(cfg["hidden_size"], cfg["intermediate_size"])
            if cfg.get("hidden_act", "gelu") != "gelu":
                raise ValueError(f"unsupported hidden_act {cfg['hidden_act']!r}")

        def forward(self, x):
            return F.gelu(self.dense(x))

    class Output(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.dense = nn.Linear(cfg["intermediate_size"], cfg["hidden_size"])
            self.LayerNorm = nn.LayerNorm(cfg["hidden_size"], eps=cfg["layer_norm_eps"])

        def forward(self, x, residual):
            return self.LayerNorm(self.dense(x) + residual)

    class Layer(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.attention = Attention(cfg, cfg["hidden_size"])
            self.crossattention = Attention(cfg, cfg["encoder_width"])
            self.intermediate = Intermediate(cfg)
            self.output = Output(cfg)

        def forward(self, x, mask, image_embeds, image_mask):
            x = self.attention(x, x, mask)
            x = self.crossattention(x, image_embeds, image_mask)
            return self.output(self.intermediate(x), x)

    class Embeddings(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            h = cfg["hidden_size"]
            self.word_embeddings = nn.Embedding(cfg["vocab_size"], h,
                                                padding_idx=cfg.get("pad_token_id", 0))
            self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], h)
            self.LayerNorm = nn.LayerNorm(h, eps=cfg["layer_norm_eps"])
            self.register_buffer("position_ids",
                                 torch.arange(cfg["max_position_embeddings"]).expand((1, -1)))

        def forward(self, input_ids):
            pos = self.position_ids[:, :input_ids.shape[1]]
            return self.LayerNorm(self.word_embeddings(input_ids) + self.position_embeddings(pos))

    class Encoder(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.layer = nn.ModuleList([Layer(cfg) for _ in range(cfg["num_hidden_layers"])])

    class MedBert(nn.Module):
        """med.py's BertModel(add_pooling_layer=False) in 'multimodal' mode, inference only."""

        def __init__(self, cfg):
            super().__init__()
            if cfg.get("position_embedding_type", "absolute") != "absolute":
                raise ValueError("only absolute position embeddings are supported")
            self.embeddings = Embeddings(cfg)
            self.encoder = Encoder(cfg)

        def forward(self, input_ids, attention_mask, image_embeds):
            x = self.embeddings(input_ids)
            dtype = x.dtype
            mask = ((1.0 - attention_mask[:, None, None, :].to(dtype)) * -10000.0)
            image_mask = torch.zeros(image_embeds.shape[:1] + (1, 1, image_embeds.shape[1]),
                                     dtype=dtype, device=x.device)  # all-ones mask upstream
            for layer in self.encoder.layer:
                x = layer(x, mask, image_embeds, image_mask)
            return x

    class MLP(nn.Module):
        def __init__(self, input_size):
            super().__init__()
            mods: list[nn.Module] = []
            dims = (input_size,) + MLP_DIMS
            for i in range(len(MLP_DIMS)):
                mods.append(nn.Linear(dims[i], dims[i + 1]))
                if i < len(MLP_DROPOUT):
                    mods.append(nn.Dropout(MLP_DROPOUT[i]))
            self.layers = nn.Sequential(*mods)

        def forward(self, x):
            return self.layers(x)

    class Blip(nn.Module):
        def __init__(self, med_cfg, vit_cfg, embed_dim=256):
            super().__init__()
            from transformers import BlipVisionConfig, BlipVisionModel

            self.visual_encoder = BlipVisionModel(BlipVisionConfig(
                **vit_cfg, hidden_act="gelu", layer_norm_eps=1e-6))
            self.text_encoder = MedBert(med_cfg)
            self.vision_proj = nn.Linear(vit_cfg["hidden_size"], embed_dim)
            self.text_proj = nn.Linear(med_cfg["hidden_size"], embed_dim)

    class ImageRewardModel(nn.Module):
        def __init__(self, med_cfg: dict[str, Any], vit_cfg: dict[str, Any]):
            super().__init__()
            med_cfg = {**med_cfg, "encoder_width": vit_cfg["hidden_size"]}  # as blip_pretrain
            self.blip = Blip(med_cfg, vit_cfg)
            self.mlp = MLP(med_cfg["hidden_size"])

        def forward(self, pixel_values, input_ids, attention_mask):
            image_embeds = self.blip.visual_encoder(pixel_values=pixel_values).last_hidden_state
            text = self.blip.text_encoder(input_ids, attention_mask, image_embeds)
            r = self.mlp(text[:, 0, :].float())  # upstream: last_hidden_state[:, 0, :].float()
            return ((r - REWARD_MEAN) / REWARD_STD).squeeze(-1)

    return ImageRewardModel


def build_model(med_cfg: dict[str, Any], vit_cfg: dict[str, Any] | None = None):
    return _build_modules()(med_cfg, vit_cfg or VIT_LARGE)


def load_checkpoint(model, path: str | Path) -> None:
    """Load an upstream ImageReward.pt into ``model`` with a strict key check."""
    import torch

    from evalsuite.checkpoint import load_weights, read_checkpoint

    sd = read_checkpoint(path)
    if not isinstance(sd, dict) or not any(k.startswith("blip.") for k in sd):
        raise ValueError(f"{path}: not an ImageReward state dict (keys: "
                         f"{list(sd)[:5] if isinstance(sd, dict) else type(sd).__name__})")
    sd = upstream_to_ours(dict(sd))
    own = model.state_dict()
    for k in OPTIONAL_BUFFERS:
        if k in sd:
            if not torch.equal(sd[k].to(own[k].dtype).reshape(-1)[:own[k].numel()],
                               own[k].reshape(-1)):
                raise ValueError(f"{path}: {k} is not the expected arange")
        else:
            sd[k] = own[k]
    res = load_weights(model, sd, path, strict=False)
    if res.missing_keys or res.unexpected_keys:
        raise ValueError(f"{path}: state dict does not match ImageReward: "
                         f"missing {res.missing_keys[:8]} ({len(res.missing_keys)}), "
                         f"unexpected {res.unexpected_keys[:8]} ({len(res.unexpected_keys)})")


class ImageReward(Judge):
    name: ClassVar[str] = "imagereward"
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "tokenizer": "BERT tokenizer hub id or folder (default bert-base-uncased)",
        "tokenizer_revision": "hub revision of the tokenizer",
    }
    pointwise: ClassVar[bool] = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image"})
    tasks: ClassVar[frozenset[str]] = frozenset({"generation", "edit"})
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers", "torchvision")
    default_model: ClassVar[str] = HUB_REPO
    companions: ClassVar[dict[str, tuple[str, str | None]]] = {"tokenizer": (TOKENIZER_ID, None)}
    fixture: ClassVar[str | None] = "imagereward"
    default_revision: ClassVar[str | None] = HUB_REVISION
    default_batch_size: ClassVar[int] = 32

    def _files(self) -> tuple[Path, Path, Path | None]:
        """(checkpoint, med_config, folder with tokenizer/vit config or None)."""
        if self.model_path:
            p = Path(self.model_path)
            ckpt = p / CHECKPOINT if p.is_dir() else p
            folder = ckpt.parent
            med = folder / MED_CONFIG
            for f in (ckpt, med):
                if not f.is_file():
                    raise FileNotFoundError(f"ImageReward file not found: {f}")
            return ckpt, med, folder
        from huggingface_hub import hf_hub_download
        ckpt = Path(hf_hub_download(self.model_id, CHECKPOINT, revision=self.revision))
        med = Path(hf_hub_download(self.model_id, MED_CONFIG, revision=self.revision))
        return ckpt, med, None

    def load(self) -> None:
        if getattr(self, "model", None) is not None:
            return
        import torch
        from transformers import BertTokenizer

        ckpt, med, folder = self._files()
        vit_cfg = VIT_LARGE
        if folder is not None and (folder / VIT_CONFIG).is_file():
            vit_cfg = json.loads((folder / VIT_CONFIG).read_text())
        model = build_model(json.loads(med.read_text()), vit_cfg)
        load_checkpoint(model, ckpt)
        self.model = model.to(self.device, torch_dtype(self.dtype)).eval()
        self.model.mlp.float()  # the head runs on float32 features, as upstream
        if folder is not None and (folder / "tokenizer_config.json").is_file():
            tok = BertTokenizer.from_pretrained(str(folder))
        else:
            tok = BertTokenizer.from_pretrained(
                self.options.get("tokenizer", TOKENIZER_ID),
                revision=self.options.get("tokenizer_revision"))
        # blip.py init_tokenizer: the two tokens BLIP adds (ids 30522, 30523 for bert-base).
        tok.add_special_tokens({"bos_token": "[DEC]"})
        tok.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
        self.tokenizer = tok
        self._torch = torch

    def prepare_point(self, item: PointItem) -> dict[str, Any]:
        if item.candidate.media is None:
            raise ValueError("ImageReward scores images; this candidate has none")
        # Upstream scores ``Image.open(path)`` as stored: _transform resizes and crops the
        # original (palette, RGBA, ...) image and converts to RGB only then.
        image = open_image(item.candidate.media)
        tok = self.tokenizer(item.prompt, padding="max_length", truncation=True,
                             max_length=MAX_LENGTH)
        return {"pixel_values": imagereward_preprocess(image), "input_ids": tok["input_ids"],
                "attention_mask": tok["attention_mask"]}

    def score_batch(self, prepared: list[dict[str, Any]]) -> list[Score]:
        torch = self._torch
        dtype = next(self.model.parameters()).dtype
        pix = torch.stack([p["pixel_values"] for p in prepared]).to(self.device, dtype)
        ids = torch.tensor([p["input_ids"] for p in prepared], device=self.device)
        mask = torch.tensor([p["attention_mask"] for p in prepared], device=self.device)
        with torch.inference_mode():
            rewards = self.model(pix, ids, mask)
        return [Score(value=float(r)) for r in rewards.float().cpu()]
