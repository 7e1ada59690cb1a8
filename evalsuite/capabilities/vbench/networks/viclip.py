"""VBench ``overall_consistency`` and ``temporal_style``: ViCLIP, re-implemented.

Facts from github Vchitect/VBench @45e79ec (no code copied):

* model - ``vbench/third_party/ViCLIP/viclip.py`` (``vit_l14`` vision encoder, 8 frames,
  ``max_txt_l = 32``), ``viclip_vision.py`` (an OpenAI-CLIP ViT-L/14 whose patch embedding is
  a bias-free Conv3d with kernel (1, 14, 14); per frame: class token, spatial positions; then
  a learned temporal position per frame added to every patch token, all 8 x 256 patch tokens
  plus frame 0's class token through one transformer; ``ln_post`` of the class token @
  ``proj``) and ``viclip_text.py`` (the CLIP text transformer with a 32-token causal context,
  features at the highest token id = end of text, @ ``text_projection``). Both towers use
  ``nn.MultiheadAttention`` and QuickGELU, as here; parameter names are the checkpoint's
  (``ViClip-InternVid-10M-FLT.pth``, whose ``model`` entry is the state dict);
* input - ``read_frames_decord_by_fps(num_frames=8, sample="middle")`` (the middle frame of 8
  equal intervals), ``clip_transform(224)`` on uint8 frames; text: CLIP's BPE
  (``bpe_simple_vocab_16e6``, the vocabulary of every OpenAI CLIP tokenizer), start and end
  of text, truncated to 32 tokens with the end token kept, zero-padded;
* score - per video, cos(video features, text features) with both L2-normalised (no
  temperature); the dimension score is the mean over videos (``np.mean(sim)``).
"""

from __future__ import annotations

from collections import OrderedDict

NUM_FRAMES = 8  # viclip.py video_input_num_frames; overall_consistency.py num_frames=8
CONTEXT = 32  # viclip.py max_txt_l
HEAD_DIM = 64  # ViT-L/14 (1024 / 16) and the 768-wide text tower (768 / 12)


def _blocks(width: int, layers: int):
    import torch
    from torch import nn

    class QuickGELU(nn.Module):
        def forward(self, x):
            return x * torch.sigmoid(1.702 * x)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(width, max(1, width // HEAD_DIM))
            self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, 4 * width)),
                                                  ("gelu", QuickGELU()),
                                                  ("c_proj", nn.Linear(4 * width, width))]))

        def forward(self, x, mask=None):  # (L, N, D)
            h = self.ln_1(x)
            x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
            return x + self.mlp(self.ln_2(x))

    class Transformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.resblocks = nn.ModuleList(Block() for _ in range(layers))

        def forward(self, x, mask=None):
            for blk in self.resblocks:
                x = blk(x, mask)
            return x

    return Transformer()


def build_viclip(vision_width: int = 1024, vision_layers: int = 24, patch: int = 14,
                 resolution: int = 224, frames: int = NUM_FRAMES, embed_dim: int = 768,
                 text_width: int = 768, text_layers: int = 12, vocab_size: int = 49408,
                 context: int = CONTEXT):
    """ViCLIP with the checkpoint's module names (random weights)."""
    import torch
    from torch import nn

    class Vision(nn.Module):
        def __init__(self):
            super().__init__()
            w = vision_width
            self.conv1 = nn.Conv3d(3, w, (1, patch, patch), (1, patch, patch), bias=False)
            self.class_embedding = nn.Parameter(torch.zeros(w))
            self.positional_embedding = nn.Parameter(torch.zeros((resolution // patch) ** 2 + 1,
                                                                 w))
            self.temporal_positional_embedding = nn.Parameter(torch.zeros(1, frames, w))
            self.ln_pre, self.ln_post = nn.LayerNorm(w), nn.LayerNorm(w)
            self.transformer = _blocks(w, vision_layers)
            self.proj = nn.Parameter(torch.zeros(w, embed_dim))

        def forward(self, video):  # (B, 3, T, H, W)
            x = self.conv1(video)
            b, c, t, h, w = x.shape
            if t != self.temporal_positional_embedding.shape[1]:
                raise ValueError(f"ViCLIP expects {frames} frames, got {t}")
            x = x.permute(0, 2, 3, 4, 1).reshape(b * t, h * w, c)
            cls = self.class_embedding.to(x.dtype).expand(b * t, 1, c)
            x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
            cls_tokens = x[:b, :1]  # upstream keeps the first b rows: frame 0's class token
            x = x[:, 1:].reshape(b, t, h * w, c).transpose(1, 2)  # (b, n, t, c)
            x = (x + self.temporal_positional_embedding).reshape(b, h * w * t, c)
            x = self.ln_pre(torch.cat([cls_tokens, x], dim=1)).permute(1, 0, 2)
            x = self.ln_post(self.transformer(x))
            return x[0] @ self.proj

    class Text(nn.Module):
        def __init__(self):
            super().__init__()
            self.token_embedding = nn.Embedding(vocab_size, text_width)
            self.positional_embedding = nn.Parameter(torch.zeros(context, text_width))
            self.transformer = _blocks(text_width, text_layers)
            self.ln_final = nn.LayerNorm(text_width)
            self.text_projection = nn.Parameter(torch.zeros(text_width, embed_dim))

        def forward(self, ids):  # (B, context) token ids, zero-padded
            x = (self.token_embedding(ids) + self.positional_embedding).permute(1, 0, 2)
            mask = torch.full((context, context), float("-inf"), device=ids.device).triu_(1)
            x = self.ln_final(self.transformer(x, mask).permute(1, 0, 2))
            return x[torch.arange(len(x)), ids.argmax(dim=-1)] @ self.text_projection

    class ViCLIP(nn.Module):
        def __init__(self):
            super().__init__()
            self.vision_encoder, self.text_encoder = Vision(), Text()
            self.temp = nn.Parameter(torch.tensor(1 / 100.0))  # training only

        def encode_video(self, frames):  # (B, T, 3, H, W), as encode_vision(test=True)
            return self.vision_encoder(frames.permute(0, 2, 1, 3, 4))

    return ViCLIP()


def load_viclip(state: dict):
    """ViCLIP sized from its state dict (``{"model": ...}`` or flat), loaded strictly, as
    upstream's ``load_state_dict(state_dict)``."""
    state = state.get("model", state)
    v, t = "vision_encoder.", "text_encoder."
    conv = state[v + "conv1.weight"]
    n_pos = state[v + "positional_embedding"].shape[0] - 1
    model = build_viclip(
        vision_width=conv.shape[0],
        vision_layers=_count(state, v + "transformer.resblocks."),
        patch=conv.shape[-1], resolution=int(round(n_pos ** 0.5)) * conv.shape[-1],
        frames=state[v + "temporal_positional_embedding"].shape[1],
        embed_dim=state[v + "proj"].shape[1],
        text_width=state[t + "token_embedding.weight"].shape[1],
        text_layers=_count(state, t + "transformer.resblocks."),
        vocab_size=state[t + "token_embedding.weight"].shape[0],
        context=state[t + "positional_embedding"].shape[0])
    model.load_state_dict(state)
    return model.eval()


def _count(state: dict, prefix: str) -> int:
    return 1 + max(int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix))


def token_ids(tokenizer, text: str, context: int = CONTEXT):
    """(1, context) ids as viclip_text.py ``tokenize``: start + BPE + end, cut to ``context``
    with the end token kept, zero-padded (HF's CLIPTokenizer has the same BPE)."""
    import torch

    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    if len(ids) > context:
        ids = ids[:context - 1] + [ids[-1]]
    out = torch.zeros(1, context, dtype=torch.long)
    out[0, :len(ids)] = torch.tensor(ids)
    return out


def video_text_similarity(video_feat, text_feat) -> float:
    """cos of the L2-normalised features (overall_consistency.py ``clip_feat @ text_feat.T``)."""
    import torch.nn.functional as F

    return float(F.normalize(video_feat.float().reshape(1, -1), dim=-1)
                 @ F.normalize(text_feat.float().reshape(1, -1), dim=-1).T)
