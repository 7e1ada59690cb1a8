"""Tag2Text (VBench scene) against plain re-computations from its state dict: the Swin
windows / shifts / masks / merging written out with loops, the tagging head and tag encoder
with per-head attention, and the captions against transformers 4.33's own beam search
(test-only extract in tests/reference/hf433_beam_search.py) driving a plain full-sequence
decoder whose cross-attention keeps the first rows of the twice-expanded tag embeddings
exactly as med.py does under that version."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from evalsuite.capabilities.vbench.networks import tag2text as T
from tests.reference import hf433_beam_search as H


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    from evalsuite.fixtures.tokenizers import bert_tokenizer
    d = tmp_path_factory.mktemp("bert")
    bert_tokenizer(extra_words=("alley", "street", "cat", "picture")).save_pretrained(d)
    return T.load_tokenizer(str(d))


def _model(tok, image_size=192, seed=0):
    torch.manual_seed(seed)
    m = T.Tag2Text(T.Tag2TextSizes(embed_dim=32, depths=(2, 2, 2, 1), image_size=image_size,
                                   hidden=64, layers=2, ffn=96, vocab_size=len(tok),
                                   max_positions=48)).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if p.dim() > 1:
                p.normal_(0, 0.2)
            elif name.endswith("LayerNorm.weight") or ".norm" in name:
                p.normal_(1.0, 0.1)
            else:
                p.normal_(0, 0.1)
        m.fc.b.normal_(-1.0, 1.5)  # some tags above 0.7, most below
        bias = m.text_decoder.cls.predictions.bias
        for t in (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.mask_token_id,
                  tok.bos_token_id, T.enc_token_id(tok)):
            bias[t] = -10.0  # words, not special tokens
        bias[tok.sep_token_id] = 1.5  # some captions end early
    return m


@pytest.fixture(scope="module")
def model(tok):
    m = _model(tok)
    sd = m.state_dict()
    return T.load_tag2text({"model": sd}, image_size=192)


def _sd(m):
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def _ln(x, sd, name, eps):
    return F.layer_norm(x, (x.shape[-1],), sd[name + ".weight"], sd[name + ".bias"], eps)


def _lin(x, sd, name):
    return x @ sd[name + ".weight"].T + (sd[name + ".bias"] if name + ".bias" in sd else 0)


# --- Swin ---------------------------------------------------------------------------------------

def _plain_swin(sd, s: T.Tag2TextSizes, image):
    v = "visual_encoder."
    x = F.conv2d(image[None], sd[v + "patch_embed.proj.weight"], sd[v + "patch_embed.proj.bias"],
                 stride=4)[0].permute(1, 2, 0)
    x = _ln(x, sd, v + "patch_embed.norm", 1e-5)
    for i, depth in enumerate(s.depths):
        res, c = x.shape[0], x.shape[2]
        heads = c // 32
        for j in range(depth):
            b = f"{v}layers.{i}.blocks.{j}."
            ws, shift = (res, 0) if res <= s.window_size else \
                (s.window_size, 0 if j % 2 == 0 else s.window_size // 2)
            h = _ln(x, sd, b + "norm1", 1e-5)
            h = torch.roll(h, (-shift, -shift), (0, 1)) if shift else h

            def region(t):  # shifted-window regions of one axis
                return 0 if t < res - ws else (1 if t < res - shift else 2)
            table = sd[b + "attn.relative_position_bias_table"]
            out = torch.zeros_like(h)
            for r0 in range(0, res, ws):
                for c0 in range(0, res, ws):
                    win = h[r0:r0 + ws, c0:c0 + ws].reshape(ws * ws, c)
                    pos = [(r, q) for r in range(ws) for q in range(ws)]
                    qkv = _lin(win, sd, b + "attn.qkv")
                    hd = c // heads
                    ctx = []
                    for n in range(heads):
                        q = qkv[:, n * hd:(n + 1) * hd] * hd ** -0.5
                        k = qkv[:, c + n * hd:c + (n + 1) * hd]
                        val = qkv[:, 2 * c + n * hd:2 * c + (n + 1) * hd]
                        bias = torch.tensor([[table[(p[0] - o[0] + ws - 1) * (2 * ws - 1)
                                                    + p[1] - o[1] + ws - 1, n].item()
                                              for o in pos] for p in pos])
                        a = q @ k.T + bias
                        if shift:
                            ids = [3 * region(r0 + p[0]) + region(c0 + p[1]) for p in pos]
                            a = a + torch.tensor([[0.0 if x_ == y_ else -100.0 for y_ in ids]
                                                  for x_ in ids])
                        ctx.append(a.softmax(-1) @ val)
                    out[r0:r0 + ws, c0:c0 + ws] = _lin(torch.cat(ctx, 1), sd,
                                                       b + "attn.proj").reshape(ws, ws, c)
            h = torch.roll(out, (shift, shift), (0, 1)) if shift else out
            x = x + h
            m = F.gelu(_lin(_ln(x, sd, b + "norm2", 1e-5), sd, b + "mlp.fc1"))
            x = x + _lin(m, sd, b + "mlp.fc2")
        if i < len(s.depths) - 1:
            d = f"{v}layers.{i}.downsample."
            x = torch.cat([x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]], -1)
            x = _lin(_ln(x, sd, d + "norm", 1e-5), sd, d + "reduction")
    x = _ln(x.reshape(-1, x.shape[-1]), sd, v + "norm", 1e-5)
    return torch.cat([x.mean(0, keepdim=True), x])


def test_swin_matches_plain_windows(model):
    torch.manual_seed(0)
    image = torch.randn(3, 192, 192)
    with torch.no_grad():
        got = model.visual_encoder(image[None])[0]
    want = _plain_swin(_sd(model), model.sizes, image)
    assert got.shape == want.shape == (1 + 6 * 6, 256)
    assert (got - want).abs().max().item() <= 1e-4 * max(1.0, want.abs().max().item())


# --- tags and tag encoder -------------------------------------------------------------------

def _plain_attention(sd, name, x, kv, heads, mask=None):
    q, k, v = _lin(x, sd, name + ".self.query"), _lin(kv, sd, name + ".self.key"), \
        _lin(kv, sd, name + ".self.value")
    hd = q.shape[-1] // heads
    ctx = []
    for n in range(heads):
        sl = slice(n * hd, (n + 1) * hd)
        a = q[:, sl] @ k[:, sl].T / math.sqrt(hd)
        if mask is not None:
            a = a + mask
        ctx.append(a.softmax(-1) @ v[:, sl])
    return _ln(_lin(torch.cat(ctx, 1), sd, name + ".output.dense") + x, sd,
               name + ".output.LayerNorm", 1e-12)


def _plain_ffn(sd, name, x):
    return _ln(_lin(F.gelu(_lin(x, sd, name + ".intermediate.dense")), sd, name + ".output.dense")
               + x, sd, name + ".output.LayerNorm", 1e-12)


def _plain_tags(sd, image_embeds, names):
    x = sd["label_embed.weight"]
    for i in range(2):
        p = f"vision_multi.encoder.layer.{i}"
        x = _plain_ffn(sd, p, _plain_attention(sd, p + ".crossattention", x, image_embeds, 4))
    logits = (sd["fc.W"][0] * x).sum(-1) + sd["fc.b"][0]
    keep = [i for i in range(len(logits)) if torch.sigmoid(logits[i]) > 0.7
            and i not in (127, 3351, 3265, 3338, 3355, 3359)]
    return " | ".join(names[i] for i in keep)


def _plain_tag_encoder(sd, ids, mask, image_embeds, layers=2, heads=1):
    x = sd["tag_encoder.embeddings.word_embeddings.weight"][ids] + \
        sd["tag_encoder.embeddings.position_embeddings.weight"][:len(ids)]
    x = _ln(x, sd, "tag_encoder.embeddings.LayerNorm", 1e-12)
    add = (1.0 - mask.float()) * -10000.0
    for i in range(layers):
        p = f"tag_encoder.encoder.layer.{i}"
        x = _plain_attention(sd, p + ".attention", x, x, heads, add[None, :])
        x = _plain_ffn(sd, p, _plain_attention(sd, p + ".crossattention", x, image_embeds, heads))
    return x


def test_tags_and_tag_encoder_match_plain(model, tok):
    torch.manual_seed(1)
    images = torch.randn(2, 3, 192, 192)
    sd = _sd(model)
    with torch.no_grad():
        emb = model.visual_encoder(images)
        tags = T.tag_strings(model.tag_logits(emb))
        enc = tok(tags, padding="max_length", truncation=True, max_length=40, return_tensors="pt")
        ids = enc.input_ids.clone()
        ids[:, 0] = T.enc_token_id(tok)
        got = T.encode(model.tag_encoder, ids, enc.attention_mask, emb)
    names = T.tag_names()
    for b in range(2):
        assert tags[b] == _plain_tags(sd, emb[b], names)
        want = _plain_tag_encoder(sd, ids[b], enc.attention_mask[b], emb[b])
        assert (got[b] - want).abs().max().item() <= 1e-4 * max(1.0, want.abs().max().item())
    assert any(tags) and any(" | " in t for t in tags)  # the fixture fires several tags
    # the tied layers: tag_encoder's first layers share vision_multi's cross-attention / FFN
    assert model.tag_encoder.encoder.layer[1].crossattention is \
        model.vision_multi.encoder.layer[1].crossattention


def test_tag_names_are_upstreams():
    names = T.tag_names()
    assert len(names) == 3429 and names[:3] == ("tennis", "bear cub", "observatory")
    assert all(n and n == n.strip() for n in names)


# --- captions ---------------------------------------------------------------------------------

def _plain_decoder_logits(sd, ids, memory, layers=2, heads=1):
    """med.py BertLMHeadModel on the whole sequence; cross-attention keeps the first rows of
    ``memory`` when it has more rows than ``ids`` (med.py BertSelfAttention)."""
    r, n = ids.shape
    memory = memory[:r]
    p = "text_decoder.bert."
    x = sd[p + "embeddings.word_embeddings.weight"][ids] + \
        sd[p + "embeddings.position_embeddings.weight"][:n][None]
    x = _ln(x, sd, p + "embeddings.LayerNorm", 1e-12)
    causal = torch.tensor([[0.0 if j <= i else -10000.0 for j in range(n)] for i in range(n)])
    out = []
    for row in range(r):
        h = x[row]
        for i in range(layers):
            q = f"{p}encoder.layer.{i}"
            h = _plain_attention(sd, q + ".attention", h, h, heads, causal)
            h = _plain_ffn(sd, q, _plain_attention(sd, q + ".crossattention", h, memory[row],
                                                   heads))
        t = "text_decoder.cls.predictions."
        h = _ln(F.gelu(_lin(h[-1], sd, t + "transform.dense")), sd, t + "transform.LayerNorm",
                1e-12)
        out.append(h @ sd[t + "decoder.weight"].T + sd[t + "bias"])
    return torch.stack(out)


def test_captions_match_transformers_433_beam_search(model, tok):
    torch.manual_seed(2)
    images = torch.randn(5, 3, 192, 192)  # 5 frames in one call: the b // 3 conditioning
    sd = _sd(model)
    with torch.no_grad():
        captions, tags = model.caption(images, tok)
        emb = model.visual_encoder(images)
        enc = tok(tags, padding="max_length", truncation=True, max_length=40, return_tensors="pt")
        ids = enc.input_ids.clone()
        ids[:, 0] = T.enc_token_id(tok)
        tag_embeds = T.encode(model.tag_encoder, ids, enc.attention_mask, emb)
    # tag2text.py generate: tag embeddings repeated per beam; transformers repeats them again
    memory = tag_embeds.repeat_interleave(3, 0)
    prompt = tok(["a picture of "] * 5, return_tensors="pt").input_ids
    prompt[:, 0] = tok.bos_token_id
    prompt = prompt[:, :-1]
    seqs = H.generate_beam(lambda input_ids, kw: _plain_decoder_logits(
        sd, input_ids, kw["encoder_hidden_states"]), prompt, num_beams=3, max_length=30,
        min_length=10, eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id,
        encoder_hidden_states=memory)
    want = [tok.decode(s, skip_special_tokens=True,
                       clean_up_tokenization_spaces=True)[len("a picture of "):] for s in seqs]
    assert captions == want


def test_beams_read_the_twice_expanded_tag_embeddings(model, tok, monkeypatch):
    """Beam row r of a call cross-attends to row r of the tag embeddings repeated per beam
    by tag2text.py, repeated again by transformers 4.33 and cut to the beam rows by med.py;
    two calls of 4 frames (``call_size``) each follow that rule on their own."""
    seen = {}
    real = T.beam_search

    def spy(decoder, prompt, memory, **kw):
        seen["memory"] = memory
        return real(decoder, prompt, memory, **kw)
    monkeypatch.setattr(T, "beam_search", spy)
    torch.manual_seed(3)
    images = torch.randn(8, 3, 192, 192)
    with torch.no_grad():
        model.caption(images, tok, call_size=4)
        emb = model.visual_encoder(images)
        tags = T.tag_strings(model.tag_logits(emb))
        enc = tok(tags, padding="max_length", truncation=True, max_length=40, return_tensors="pt")
        ids = enc.input_ids.clone()
        ids[:, 0] = T.enc_token_id(tok)
        tag_embeds = T.encode(model.tag_encoder, ids, enc.attention_mask, emb)
    got = seen["memory"].repeat_interleave(3, 0)  # beam_search's own per-beam repetition
    for call in range(2):
        rows = tag_embeds[4 * call:4 * call + 4]
        want = rows.repeat_interleave(3, 0).repeat_interleave(3, 0)[:12]
        assert torch.equal(got[12 * call:12 * call + 12], want)


def test_decoder_beam_search_matches_transformers_433(model, tok):
    """The cached decoder + beam search against the 4.33 extract over a plain full-sequence
    decoder, on distinct random tag memories (so that rows differ) and several lengths."""
    sd = _sd(model)
    torch.manual_seed(4)
    memory = torch.randn(4, 40, 64) * 3
    prompt = tok(["a picture of "] * 4, return_tensors="pt").input_ids
    prompt[:, 0] = tok.bos_token_id
    prompt = prompt[:, :-1]
    for min_length, max_length in ((10, 30), (5, 12)):
        with torch.no_grad():
            got = T.beam_search(model.text_decoder, prompt, memory, eos=tok.sep_token_id,
                                pad=tok.pad_token_id, min_length=min_length,
                                max_length=max_length)
        want = H.generate_beam(lambda ids, kw: _plain_decoder_logits(
            sd, ids, kw["encoder_hidden_states"]), prompt, num_beams=3, max_length=max_length,
            min_length=min_length, eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id,
            encoder_hidden_states=memory)
        for g, w in zip(got, want.tolist()):
            assert g == w[:len(g)]
            assert all(t in (tok.sep_token_id, tok.pad_token_id) for t in w[len(g):])
    assert len({tuple(g) for g in got}) > 1  # the memories lead to different captions


def test_beam_search_by_hand():
    """Two beams over a scripted 4-token vocabulary (eos = 3) against the 4.33 extract."""
    class Scripted(torch.nn.Module):
        def step(self, ids, start, cache, memory):
            return torch.stack([self.row(int(t), start + ids.shape[1]) for t in ids[:, -1]])

        @staticmethod
        def row(last, length):
            table = {0: [0.0, 2.0, 1.9, 1.0], 1: [0.5, 0.0, 1.0, 1.2], 2: [1.0, 0.1, 0.0, 0.9]}
            return torch.tensor(table.get(last, [0.0, 0.0, 0.0, 0.0])) + 0.01 * length

    for min_length, max_length in ((1, 6), (3, 6), (2, 4), (1, 9)):
        got = T.beam_search(Scripted(), torch.tensor([[0], [2]]), torch.zeros(2, 1, 1), eos=3,
                            pad=0, num_beams=2, max_length=max_length, min_length=min_length)

        def logits_fn(ids, kw):
            return torch.stack([Scripted.row(int(t), ids.shape[1]) for t in ids[:, -1]])
        want = H.generate_beam(logits_fn, torch.tensor([[0], [2]]), num_beams=2,
                               max_length=max_length, min_length=min_length, eos_token_id=3,
                               pad_token_id=0)
        for g, w in zip(got, want):
            w = w.tolist()
            assert g == w[:len(g)] and all(t in (0, 3) for t in w[len(g):])


def test_checkpoint_loading(model, tok):
    sd = model.state_dict()
    full = dict(sd)
    for name, buf in model.named_buffers():
        if buf is not None:
            full[name] = buf
    full["tag_encoder.embeddings.position_ids"] = torch.arange(48)[None]
    T.load_tag2text({"model": full}, image_size=192)
    with pytest.raises(ValueError, match="position_ids"):
        T.load_tag2text({"model": {**full, "tag_encoder.embeddings.position_ids":
                                   torch.zeros(1, 48, dtype=torch.long)}}, image_size=192)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        T.load_tag2text({"model": {**sd, "itm_head.weight": torch.zeros(2, 64)}}, image_size=192)
    with pytest.raises(RuntimeError, match="Missing key"):
        T.load_tag2text({"model": {k: v for k, v in sd.items() if not k.startswith("fc.")}},
                        image_size=192)
    s = T.sizes_from_state_dict(sd)
    assert (s.embed_dim, s.depths, s.window_size, s.layers, s.tag_layers) == \
        (32, (2, 2, 2, 1), 12, 2, 2)


# --- the scorer ---------------------------------------------------------------------------------

def test_scorer_scene_matches_the_formula(fx, tmp_path):
    """scene through the scorer (two videos batched) equals upstream's check (test-only
    extract) on an independent Tag2Text run over each video's 16 frames in one call."""
    import numpy as np

    from evalsuite.capabilities.vbench import formulas as D
    from evalsuite.policies.base import GenItem, GenUnit
    from evalsuite.policies.runner import write_video
    from evalsuite.capabilities.vbench.suite import VBench
    from tests.reference import vbench_semantic_dims as R

    scorers = fx("vbench") / "scorers"
    sc = VBench(scorer_path=str(scorers)).scorer("cpu", "float32")
    sc.load()
    rng = np.random.default_rng(1)
    prepared, videos = [], []
    aux = {"scene": {"scene": {"scene": "alley"}}}
    for k, n in enumerate((3, 18)):
        frames = rng.integers(0, 256, (n, 40, 56, 3), dtype=np.uint8)
        path = tmp_path / "samples" / "x" / f"v{k}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, frames)
        unit = GenUnit(GenItem("vbench:0001", "alley", "scene",
                               {"dimension": ["scene"], "auxiliary_info": aux}), k, 1)
        prepared.append(sc.prepare(unit, path))
        videos.append(prepared[-1]["frames"])
    out = [s.extras for s in sc.score_batch(prepared)]
    model = T.load_tag2text(torch.load(scorers / "caption_model" / "tag2text_swin_14m.pth",
                                       weights_only=True))
    tok = T.load_tokenizer(str(scorers / "bert-base-uncased"))
    for frames, ex in zip(videos, out):
        assert not ex["errors"], ex["errors"]
        x = T.preprocess(frames[D.middle_frame_indices(16, len(frames))])
        captions, _ = model.caption(x, tok)
        assert ex["scene_captions"] == captions
        assert ex["scene"] == R.scene_check_generate({"scene": "alley"}, captions) / 16
        assert ex["scene"] == 1.0  # the fixture's captions say "alley"
