"""VBench ``scene``: the Tag2Text captioner, re-implemented on current torch.

VBench (github Vchitect/VBench @45e79ec, ``vbench/scene.py`` and ``vbench/third_party/
tag2Text``; checkpoint ``tag2text_swin_14m.pth``) captions 16 frames with Tag2Text
(Huang et al., ``Tag2Text_Caption(image_size=384, vit='swin_b')``). Facts followed (no code
copied):

* input - ``load_video(num_frames=16, width=384, height=384)``: the 16 middle-sampled frames,
  scaled by decord to 384 x 384 (aspect ignored); ``tag2text_transform(384)``: ToTensor and
  ImageNet mean / std. Here the decoded RGB frames are resized with PIL bicubic (decord
  scales inside FFmpeg's swscale, bicubic too, from the YUV frame: the pixels can differ
  slightly).
* image encoder - ``swin_transformer.py`` (the Microsoft Swin): Swin-B, patch 4, embed 128,
  depths (2, 2, 18, 2), heads (4, 8, 16, 32), window 12 at 384 px (no shift and a 12-px
  window in the last, 12 x 12 stage), LayerNorm eps 1e-5, exact GELU, relative position
  bias tables, -100 shifted-window masks, patch merging (x0, x1, x2, x3 order) at the end
  of the first three stages; output = [mean token; the 144 tokens] after the final norm.
* tags - ``tag2text.py generate``: the 3429 label embeddings cross-attend to the image
  tokens through 2 BERT layers without self-attention (``vision_multi``, 4 heads, mode
  "mlr"); ``GroupWiseLinear`` logits = sum(W * h) + b; tags with sigmoid > 0.7, minus
  indices 127, 3351, 3265, 3338, 3355, 3359, joined with " | " in index order (names:
  ``tag_class.py``, shipped as ``evalsuite/data/tag2text_tags.txt``).
* tag encoder - ``med.py BertModel`` (12 layers, 12 heads, cross-attention to the image
  tokens): the tag string tokenized (padding to 40, truncation), its [CLS] replaced by
  [ENC]; padding masked with (1 - mask) * -10000. Its first two layers' cross-attention and
  feed-forward weights are those of ``vision_multi`` (``tie_encoder_decoder_weights``).
* caption - ``med.py BertLMHeadModel.generate`` under transformers 4.33 (VBench's pin):
  prompt "a picture of " as [DEC] a picture of; beam search with 3 beams, max_length 30,
  min_length 10 (tokens counted with the prompt), length_penalty 1, no early stopping,
  repetition_penalty 1 (off): transformers' ``BeamSearchScorer`` / ``BeamHypotheses``
  rules (2 x beams candidates, finished hypotheses scored sum log-prob / length without
  [SEP], done when the best running score / (length + 1) cannot beat the worst kept one).
  Caption = ``decode(skip_special_tokens=True)[len("a picture of "):]``.
* a quirk kept - ``generate`` repeats the tag embeddings per beam before transformers 4.33
  repeats them again, and med.py's cross-attention keeps the first rows: the beams of frame
  ``b`` (of the 16 captioned together) read the tag embeddings of frame ``b // 3``. So the
  16 captions are conditioned on the tags / image of frames 0, 0, 0, 1, 1, 1, ..., 4, 5.

Checkpoint: ``{"model": state dict}`` loaded with ``torch.load(weights_only=True)`` and
``load_state_dict(strict=True)`` under upstream's names; the buffers upstream drops or
rebuilds (``relative_position_index``, ``attn_mask``, ``position_ids``) are checked and
dropped. Sizes are read from the tensor shapes (heads: 32-wide in Swin, 64-wide in the BERTs
except ``vision_multi``'s 4 heads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from evalsuite.capabilities.vbench.networks.grit import BertLayer, attend

IMAGE_SIZE = 384
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # vbench/utils.py tag2text_transform
IMAGENET_STD = (0.229, 0.224, 0.225)
THRESHOLD = 0.7  # Tag2Text_Caption(threshold=0.7)
DELETE_TAGS = (127, 3351, 3265, 3338, 3355, 3359)  # tag2text.py delete_tag_index
PROMPT = "a picture of "
NUM_BEAMS, MAX_LENGTH, MIN_LENGTH = 3, 30, 10  # generate(num_beams=3, max_length=30, min_length=10)
TAG_MAX_LENGTH = 40
SWIN_HEAD_DIM, BERT_HEAD_DIM, TAG_HEADS = 32, 64, 4  # q2l_config.json: 4 heads


@lru_cache(maxsize=1)
def tag_names() -> tuple[str, ...]:
    path = Path(__file__).resolve().parents[3] / "data" / "tag2text_tags.txt"
    return tuple(path.read_text(encoding="utf-8").split("\n")[:-1])


@dataclass
class Tag2TextSizes:
    embed_dim: int = 128
    depths: tuple[int, ...] = (2, 2, 18, 2)
    window_size: int = 12
    image_size: int = IMAGE_SIZE
    hidden: int = 768
    layers: int = 12
    ffn: int = 3072
    vocab_size: int = 30524
    max_positions: int = 512
    tag_layers: int = 2
    num_tags: int = 3429


# --- Swin ----------------------------------------------------------------------------------

def _windows(x, ws: int):
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def _unwindows(x, ws: int, h: int, w: int):
    b = x.shape[0] // ((h // ws) * (w // ws))
    x = x.view(b, h // ws, w // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, -1)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, ws: int, heads: int):
        super().__init__()
        self.heads, self.ws = heads, ws
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, heads))
        coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij"))
        coords = coords.flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)
        self.register_buffer("relative_position_index", rel[..., 0] * (2 * ws - 1) + rel[..., 1],
                             persistent=False)
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask=None):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (c // self.heads) ** -0.5, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1)[None]
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(b // nw, nw, self.heads, n, n) + mask[None, :, None]
            attn = attn.view(-1, self.heads, n, n)
        return self.proj((attn.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    def __init__(self, dim: int, resolution: int, heads: int, ws: int, shift: int):
        super().__init__()
        if resolution <= ws:  # swin_transformer.py: no shift, one window
            ws, shift = resolution, 0
        self.res, self.ws, self.shift = resolution, ws, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, ws, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, 4 * dim)
        mask = None
        if shift:
            img = torch.zeros(1, resolution, resolution, 1)
            cnt = 0
            for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                    img[:, hs, wsl, :] = cnt
                    cnt += 1
            win = _windows(img, ws)[..., 0]
            mask = win[:, None, :] - win[:, :, None]
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, x):
        b, n, c = x.shape
        r, ws, s = self.res, self.ws, self.shift
        h = self.norm1(x).view(b, r, r, c)
        if s:
            h = torch.roll(h, shifts=(-s, -s), dims=(1, 2))
        h = _unwindows(self.attn(_windows(h, ws), self.attn_mask), ws, r, r)
        if s:
            h = torch.roll(h, shifts=(s, s), dims=(1, 2))
        x = x + h.reshape(b, n, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, resolution: int, dim: int):
        super().__init__()
        self.res = resolution
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x):
        b, _, c = x.shape
        x = x.view(b, self.res, self.res, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class BasicLayer(nn.Module):
    def __init__(self, dim: int, resolution: int, depth: int, heads: int, ws: int, merge: bool):
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, resolution, heads, ws, 0 if i % 2 == 0 else ws // 2)
            for i in range(depth))
        self.downsample = PatchMerging(resolution, dim) if merge else None

    def forward(self, x):
        for blk in self.blocks:
            x = blk(x)
        return self.downsample(x) if self.downsample is not None else x


class Swin(nn.Module):
    def __init__(self, s: Tag2TextSizes):
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, s.embed_dim, 4, 4)
        self.patch_embed.norm = nn.LayerNorm(s.embed_dim)
        res = s.image_size // 4
        self.layers = nn.ModuleList()
        for i, depth in enumerate(s.depths):
            dim = s.embed_dim * 2 ** i
            self.layers.append(BasicLayer(dim, res // 2 ** i, depth, dim // SWIN_HEAD_DIM,
                                          s.window_size, i < len(s.depths) - 1))
        self.norm = nn.LayerNorm(s.embed_dim * 2 ** (len(s.depths) - 1))

    def forward(self, x):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = self.patch_embed.norm(x)
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x)
        return torch.cat([x.mean(1, keepdim=True), x], 1)


# --- BERT (med.py) -------------------------------------------------------------------------

class BertEmbeddings(nn.Module):
    def __init__(self, vocab: int, d: int, max_positions: int):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, d, padding_idx=0)
        self.position_embeddings = nn.Embedding(max_positions, d)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)

    def forward(self, ids, start: int = 0):
        pos = torch.arange(start, start + ids.shape[1], device=ids.device)
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos)[None])


class BertEncoder(nn.Module):
    def __init__(self, layers: list[BertLayer]):
        super().__init__()
        self.layer = nn.ModuleList(layers)


class BertModel(nn.Module):
    def __init__(self, s: Tag2TextSizes, cross_dim: int, embeddings: bool = True,
                 self_attention: bool = True, layers: int | None = None):
        super().__init__()
        if embeddings:
            self.embeddings = BertEmbeddings(s.vocab_size, s.hidden, s.max_positions)
        heads = s.hidden // BERT_HEAD_DIM if self_attention else TAG_HEADS
        self.encoder = BertEncoder([BertLayer(s.hidden, s.ffn, heads, cross_dim=cross_dim,
                                              self_attention=self_attention)
                                    for _ in range(layers or s.layers)])


def _cross(layer: BertLayer, x, memory, heads: int | None = None):
    c = layer.crossattention.self
    return attend(layer.crossattention, x, c.key(memory), c.value(memory), heads or layer.heads)


def encode(model: BertModel, ids, mask, memory):
    """med.py BertModel, mode "multimodal", bidirectional: self-attention with the padding
    mask, cross-attention to ``memory``, feed-forward."""
    x = model.embeddings(ids)
    add = ((1.0 - mask[:, None, None, :].float()) * -10000.0)
    for layer in model.encoder.layer:
        k, v = layer.kv(x)
        x = attend(layer.attention, x, k, v, layer.heads, add)
        x = layer.feed_forward(_cross(layer, x, memory))
    return x


class LMPredictions(nn.Module):
    def __init__(self, d: int, vocab: int):
        super().__init__()
        self.transform = nn.Module()
        self.transform.dense = nn.Linear(d, d)
        self.transform.LayerNorm = nn.LayerNorm(d, eps=1e-12)
        self.decoder = nn.Linear(d, vocab)
        self.bias = self.decoder.bias  # med.py: decoder.bias is predictions.bias


class BertLMHeadModel(nn.Module):
    def __init__(self, s: Tag2TextSizes):
        super().__init__()
        self.bert = BertModel(s, cross_dim=s.hidden)
        self.cls = nn.Module()
        self.cls.predictions = LMPredictions(s.hidden, s.vocab_size)
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def logits(self, x):
        t = self.cls.predictions.transform
        return self.cls.predictions.decoder(t.LayerNorm(F.gelu(t.dense(x))))

    def step(self, ids, start: int, cache: list, memory):
        """Causal decoding of ``ids`` at positions ``start``.. with the keys / values of the
        earlier positions in ``cache`` (extended in place): med.py's decoder re-run on the
        whole sequence gives the same numbers (a causal position never sees later ones)."""
        x = self.bert.embeddings(ids, start)
        n = ids.shape[1]
        causal = torch.triu(torch.full((n, start + n), -10000.0, device=ids.device),
                            diagonal=start + 1)  # (1 - causal) * -10000
        for i, layer in enumerate(self.bert.encoder.layer):
            k, v = layer.kv(x)
            if len(cache) <= i:
                cache.append((k, v))
            else:
                cache[i] = (torch.cat([cache[i][0], k], 1), torch.cat([cache[i][1], v], 1))
            x = attend(layer.attention, x, cache[i][0], cache[i][1], layer.heads,
                       causal[None, None])
            x = layer.feed_forward(_cross(layer, x, memory))
        return self.logits(x[:, -1]).float()


class GroupWiseLinear(nn.Module):
    def __init__(self, num_class: int, dim: int):
        super().__init__()
        self.W = nn.Parameter(torch.zeros(1, num_class, dim))
        self.b = nn.Parameter(torch.zeros(1, num_class))

    def forward(self, x):
        return (self.W * x).sum(-1) + self.b


class Tag2Text(nn.Module):
    """``Tag2Text_Caption`` with its module names and registration order (which decides
    the value of the tied parameters when a checkpoint is loaded)."""

    def __init__(self, s: Tag2TextSizes | None = None):
        super().__init__()
        s = s or Tag2TextSizes()
        self.sizes = s
        vision_width = s.embed_dim * 2 ** (len(s.depths) - 1)
        self.visual_encoder = Swin(s)
        self.text_decoder = BertLMHeadModel(s)
        self.tag_encoder = BertModel(s, cross_dim=vision_width)
        self.vision_multi = BertModel(s, cross_dim=vision_width, embeddings=False,
                                      self_attention=False, layers=s.tag_layers)
        self.label_embed = nn.Embedding(s.num_tags, s.hidden)
        self.fc = GroupWiseLinear(s.num_tags, s.hidden)
        # tie_encoder_decoder_weights(tag_encoder, vision_multi): the shared layers' cross-
        # attention and feed-forward are vision_multi's parameters
        for enc, dec in zip(self.tag_encoder.encoder.layer, self.vision_multi.encoder.layer):
            for name in ("crossattention", "intermediate", "output"):
                setattr(enc, name, getattr(dec, name))

    def tag_logits(self, image_embeds):
        x = self.label_embed.weight[None].expand(len(image_embeds), -1, -1)
        for layer in self.vision_multi.encoder.layer:  # mode "mlr": cross-attention only
            x = layer.feed_forward(_cross(layer, x, image_embeds, TAG_HEADS))
        return self.fc(x)

    @torch.no_grad()
    def caption(self, images, tokenizer, call_size: int | None = None
                ) -> tuple[list[str], list[str]]:
        """(captions, tag strings) of (B, 3, 384, 384) normalised frames, as upstream's
        ``generate(images, tag_input=None, return_tag_predict=True)`` called on each run of
        ``call_size`` consecutive frames (default: the whole batch in one call)."""
        image_embeds = self.visual_encoder(images)
        tags = tag_strings(self.tag_logits(image_embeds))
        enc = tokenizer(tags, padding="max_length", truncation=True,
                        max_length=TAG_MAX_LENGTH, return_tensors="pt").to(images.device)
        ids = enc.input_ids.clone()
        ids[:, 0] = enc_token_id(tokenizer)
        tag_embeds = encode(self.tag_encoder, ids, enc.attention_mask, image_embeds)
        # the beams of frame b of a call read the tag embeddings of its frame b // NUM_BEAMS
        # (module doc)
        row = torch.arange(len(images), device=images.device)
        call = call_size or len(images)
        cond = tag_embeds[row // call * call + row % call // NUM_BEAMS]
        prompt = tokenizer([PROMPT] * len(images), return_tensors="pt").input_ids
        prompt[:, 0] = tokenizer.bos_token_id
        prompt = prompt[:, :-1].to(images.device)
        seqs = beam_search(self.text_decoder, prompt, cond, eos=tokenizer.sep_token_id,
                           pad=tokenizer.pad_token_id)
        captions = [tokenizer.decode(s, skip_special_tokens=True,
                                     clean_up_tokenization_spaces=True)[len(PROMPT):]
                    for s in seqs]
        return captions, tags


def enc_token_id(tokenizer) -> int:
    return tokenizer.convert_tokens_to_ids("[ENC]")


def tag_strings(logits) -> list[str]:
    names = tag_names()
    hit = torch.sigmoid(logits) > THRESHOLD
    hit[:, list(DELETE_TAGS)] = False
    return [" | ".join(names[i] for i in row.nonzero()[:, 0].tolist()) for row in hit.cpu()]


class _Hypotheses:
    """transformers 4.33 ``BeamHypotheses`` (length_penalty 1, early_stopping False)."""

    def __init__(self, num_beams: int):
        self.num_beams, self.beams, self.worst = num_beams, [], 1e9

    def add(self, hyp: list[int], sum_logprobs: float):
        score = sum_logprobs / len(hyp)
        if len(self.beams) < self.num_beams or score > self.worst:
            self.beams.append((score, hyp))
            if len(self.beams) > self.num_beams:
                ranked = sorted((s, i) for i, (s, _) in enumerate(self.beams))
                del self.beams[ranked[0][1]]
                self.worst = ranked[1][0]
            else:
                self.worst = min(score, self.worst)

    def is_done(self, best_sum_logprobs: float, cur_len: int) -> bool:
        return len(self.beams) >= self.num_beams and self.worst >= best_sum_logprobs / cur_len


def beam_search(decoder: BertLMHeadModel, prompt, memory, eos: int, pad: int,
                num_beams: int = NUM_BEAMS, max_length: int = MAX_LENGTH,
                min_length: int = MIN_LENGTH) -> list[list[int]]:
    """transformers 4.33 ``generate(num_beams, max_length, min_length)`` beam search for a
    decoder-only model: the best hypothesis of each row of ``prompt`` (token lists, without
    the final [SEP]); row b's beams cross-attend to ``memory[b]``."""
    b = prompt.shape[0]
    ids = prompt.repeat_interleave(num_beams, 0)
    memory = memory.repeat_interleave(num_beams, 0)
    scores = torch.zeros(b, num_beams, device=ids.device)
    scores[:, 1:] = -1e9
    scores = scores.view(-1)
    hyps = [_Hypotheses(num_beams) for _ in range(b)]
    done = [False] * b
    cache: list = []
    logits = decoder.step(ids, 0, cache, memory)
    while True:
        logp = F.log_softmax(logits, -1)
        if ids.shape[1] < min_length:  # MinLengthLogitsProcessor
            logp[:, eos] = -float("inf")
        vocab = logp.shape[-1]
        cand = (logp + scores[:, None]).view(b, num_beams * vocab)
        top, tokens = torch.topk(cand, 2 * num_beams, dim=1, largest=True, sorted=True)
        beams, tokens = tokens // vocab, tokens % vocab
        nxt_scores = torch.zeros(b, num_beams, device=ids.device)
        nxt_tokens = torch.zeros(b, num_beams, dtype=torch.long, device=ids.device)
        nxt_rows = torch.zeros(b, num_beams, dtype=torch.long, device=ids.device)
        cur_len = ids.shape[1] + 1
        for i in range(b):  # BeamSearchScorer.process
            if done[i]:
                nxt_tokens[i] = pad
                continue
            k = 0
            for rank, (tok, sc, beam) in enumerate(zip(tokens[i].tolist(), top[i].tolist(),
                                                       beams[i].tolist())):
                row = i * num_beams + beam
                if tok == eos:
                    if rank < num_beams:
                        hyps[i].add(ids[row].tolist(), sc)
                else:
                    nxt_scores[i, k], nxt_tokens[i, k], nxt_rows[i, k] = sc, tok, row
                    k += 1
                if k == num_beams:
                    break
            done[i] = done[i] or hyps[i].is_done(top[i].max().item(), cur_len)
        rows = nxt_rows.view(-1)
        scores = nxt_scores.view(-1)
        ids = torch.cat([ids[rows], nxt_tokens.view(-1, 1)], 1)
        cache = [(k_[rows], v_[rows]) for k_, v_ in cache]
        if all(done) or ids.shape[1] >= max_length:
            break
        logits = decoder.step(ids[:, -1:], ids.shape[1] - 1, cache, memory)
    out = []
    for i in range(b):  # BeamSearchScorer.finalize
        if not done[i]:
            for j in range(num_beams):
                hyps[i].add(ids[i * num_beams + j].tolist(), scores[i * num_beams + j].item())
        out.append(sorted(hyps[i].beams, key=lambda h: h[0])[-1][1])
    return out


# --- loading / preprocessing ---------------------------------------------------------------

DERIVED_BUFFERS = ("relative_position_index", "attn_mask", "position_ids")


def sizes_from_state_dict(sd: dict) -> Tag2TextSizes:
    v = "visual_encoder."
    depths = []
    while any(k.startswith(f"{v}layers.{len(depths)}.") for k in sd):
        i = len(depths)
        depths.append(len({k.split(".")[4] for k in sd if k.startswith(f"{v}layers.{i}.blocks.")}))
    table = sd[f"{v}layers.0.blocks.0.attn.relative_position_bias_table"].shape[0]
    emb = sd["text_decoder.bert.embeddings.word_embeddings.weight"]
    layer_ids = {k.split(".")[4] for k in sd if k.startswith("text_decoder.bert.encoder.layer.")}
    tag_ids = {k.split(".")[3] for k in sd if k.startswith("vision_multi.encoder.layer.")}
    return Tag2TextSizes(
        embed_dim=sd[f"{v}patch_embed.proj.weight"].shape[0], depths=tuple(depths),
        window_size=(int(math.isqrt(table)) + 1) // 2, hidden=emb.shape[1],
        layers=len(layer_ids),
        ffn=sd["text_decoder.bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
        vocab_size=emb.shape[0],
        max_positions=sd["text_decoder.bert.embeddings.position_embeddings.weight"].shape[0],
        tag_layers=len(tag_ids), num_tags=sd["label_embed.weight"].shape[0])


def load_tag2text(state: dict, image_size: int = IMAGE_SIZE) -> Tag2Text:
    """Tag2Text from ``tag2text_swin_14m.pth`` as loaded with ``weights_only=True``."""
    sd = dict(state.get("model", state))
    for k in [k for k in sd if k.rsplit(".", 1)[-1] in DERIVED_BUFFERS]:
        value = sd.pop(k)
        if k.endswith("position_ids") and not torch.equal(
                value.reshape(-1), torch.arange(value.numel(), dtype=value.dtype)):
            raise ValueError(f"checkpoint {k} is not 0..n-1")
    sizes = sizes_from_state_dict(sd)
    sizes.image_size = image_size
    model = Tag2Text(sizes)
    want = model.state_dict()
    for k, v in sd.items():
        if k in want and "relative_position_bias_table" in k and v.shape != want[k].shape:
            raise ValueError(f"{k}: {tuple(v.shape)} != {tuple(want[k].shape)} (a checkpoint "
                             f"for another window size; upstream would interpolate it)")
    model.load_state_dict(sd, strict=True)
    return model.eval()


def preprocess(frames) -> torch.Tensor:
    """(T, H, W, 3) uint8 RGB -> (T, 3, 384, 384): PIL bicubic to 384 x 384, ToTensor,
    ImageNet normalisation."""
    import numpy as np
    import torchvision.transforms.functional as TF
    from PIL import Image

    out = []
    for f in np.asarray(frames):
        im = Image.fromarray(f).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC)
        out.append(TF.normalize(TF.to_tensor(im), IMAGENET_MEAN, IMAGENET_STD))
    return torch.stack(out)


def load_tokenizer(src: str):
    """bert-base-uncased plus [DEC] (bos) and [ENC] (tag2text.py ``init_tokenizer``)."""
    from transformers import BertTokenizer

    tok = BertTokenizer.from_pretrained(src)
    tok.add_special_tokens({"bos_token": "[DEC]"})
    tok.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    return tok
