"""GRiT (VBench's dense captioner) against plain re-computations from its state dict.

Each stage is recomputed here the way the upstream modules write it, with plain tensor
operations on the state dict's tensors and Python loops (no timm block, no torchvision NMS
or box coder, no key/value cache): the ViTDet blocks (window partition, decomposed relative
positions), the simple feature pyramid, the CenterNet proposals with a brute-force NMS, the
three cascade stages with the hand box decoding, the score rule and the final NMS, and the
text decoder re-run over the whole [memory; text] sequence at every step with upstream's
attention mask and greedy search rules. The reduced configuration keeps every structural
choice of GRiT-B (windowed and global blocks, 5 pyramid levels, 3 RoI levels, 3 stages)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from evalsuite.capabilities.vbench.networks import grit as G


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: one intra-op thread avoids the scheduling overhead of several."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tok():
    from evalsuite.fixtures.tokenizers import bert_tokenizer
    return bert_tokenizer(extra_words=("cat", "dog"))


@pytest.fixture(scope="module")
def grit(tok):
    torch.manual_seed(3)
    m = G.GRiT(G.GritSizes(embed_dim=64, depth=3, num_heads=2, window_size=3,
                           window_blocks=(0, 2), img_size=128, channels=64, fc_dim=48,
                           text_hidden=64, text_layers=2, text_ffn=96, vocab_size=len(tok),
                           max_positions=48)).eval()
    with torch.no_grad():
        for p in m.parameters():  # spread the random weights a little
            p.add_(torch.randn_like(p) * 0.02)
        head = m.proposal_generator.centernet_head
        head.agn_hm.bias.fill_(1.0)
        head.bbox_pred.bias.fill_(4.0)  # large proposals: NMS keeps a few dozen
        for pred in m.roi_heads.box_predictor:
            pred.cls_score.bias.copy_(torch.tensor([1.5, -1.5]))
            pred.bbox_pred[2].weight.mul_(0.1)
        m.roi_heads.text_decoder.textual.embedding.words.weight.mul_(3.0)
        m.roi_heads.text_decoder.textual.output.bias[tok.sep_token_id] = 6.0  # some end early
    return G.load_grit({"model": m.state_dict()})  # through the checkpoint loader


def _sd(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# --- backbone ---------------------------------------------------------------------------------

def _rel_table(rel, size):
    """vit utils get_rel_pos for q_size == k_size == size: rows of (q - k + size - 1)."""
    rows = 2 * size - 1
    if rel.shape[0] != rows:
        rel = F.interpolate(rel.reshape(1, rel.shape[0], -1).permute(0, 2, 1), size=rows,
                            mode="linear").reshape(-1, rows).permute(1, 0)
    idx = torch.tensor([[q - k + size - 1 for k in range(size)] for q in range(size)])
    return rel[idx]  # (size, size, head_dim)


def _plain_attention(sd, pre, x, heads):
    """vit.py Attention on (H, W, C) tokens of one window / image."""
    h, w, c = x.shape
    qkv = x.reshape(h * w, c) @ sd[pre + "qkv.weight"].T + sd[pre + "qkv.bias"]
    hd = c // heads
    out = []
    rh, rw = _rel_table(sd[pre + "rel_pos_h"], h), _rel_table(sd[pre + "rel_pos_w"], w)
    for n in range(heads):
        q = qkv[:, n * hd:(n + 1) * hd]
        k = qkv[:, c + n * hd:c + (n + 1) * hd]
        v = qkv[:, 2 * c + n * hd:2 * c + (n + 1) * hd]
        attn = (q * hd ** -0.5) @ k.T
        qg = q.reshape(h, w, hd)
        bias_h = torch.einsum("hwc,hkc->hwk", qg, rh)  # (h, w, kh)
        bias_w = torch.einsum("hwc,wkc->hwk", qg, rw)  # (h, w, kw)
        attn = attn + (bias_h[:, :, :, None] + bias_w[:, :, None, :]).reshape(h * w, h * w)
        out.append(attn.softmax(-1) @ v)
    y = torch.cat(out, 1) @ sd[pre + "proj.weight"].T + sd[pre + "proj.bias"]
    return y.reshape(h, w, c)


def _plain_vit(sd, s: G.GritSizes, image):
    p = "backbone.bottom_up."
    x = F.conv2d(image[None], sd[p + "patch_embed.proj.weight"], sd[p + "patch_embed.proj.bias"],
                 stride=s.patch_size)[0].permute(1, 2, 0)
    h, w, c = x.shape
    pos = sd[p + "pos_embed"][0, 1:]
    side = int(math.sqrt(pos.shape[0]))
    pos = F.interpolate(pos.reshape(1, side, side, c).permute(0, 3, 1, 2), size=(h, w),
                        mode="bicubic", align_corners=False)[0].permute(1, 2, 0)
    x = x + pos
    for i in range(s.depth):
        b = f"{p}blocks.{i}."
        y = F.layer_norm(x, (c,), sd[b + "norm1.weight"], sd[b + "norm1.bias"], 1e-6)
        if i in s.window_blocks:
            ws = s.window_size
            ph, pw = -h % ws, -w % ws
            y = F.pad(y, (0, 0, 0, pw, 0, ph))
            out = torch.zeros_like(y)
            for r in range(0, h + ph, ws):
                for q in range(0, w + pw, ws):
                    out[r:r + ws, q:q + ws] = _plain_attention(
                        sd, b + "attn.", y[r:r + ws, q:q + ws], s.num_heads)
            y = out[:h, :w]
        else:
            y = _plain_attention(sd, b + "attn.", y, s.num_heads)
        x = x + y
        z = F.layer_norm(x, (c,), sd[b + "norm2.weight"], sd[b + "norm2.bias"], 1e-6)
        z = F.gelu(z @ sd[b + "mlp.fc1.weight"].T + sd[b + "mlp.fc1.bias"])
        x = x + z @ sd[b + "mlp.fc2.weight"].T + sd[b + "mlp.fc2.bias"]
    return x.permute(2, 0, 1)


def _plain_pyramid(sd, vit_out):
    def ln(t, name):
        return F.layer_norm(t.permute(1, 2, 0), (t.shape[0],), sd[name + ".weight"],
                            sd[name + ".bias"]).permute(2, 0, 1)

    def level(k, t):
        t = ln(F.conv2d(t[None], sd[f"backbone.fpn_stride{k}_conv1.weight"])[0],
               f"backbone.fpn_stride{k}_norm1")
        return ln(F.conv2d(t[None], sd[f"backbone.fpn_stride{k}_conv2.weight"], padding=1)[0],
                  f"backbone.fpn_stride{k}_norm2")
    up = F.conv_transpose2d(vit_out[None], sd["backbone.fpn_stride_16_8.weight"], stride=2)[0]
    p5 = level(32, F.max_pool2d(vit_out[None], 2)[0])
    p6 = F.conv2d(p5[None], sd["backbone.top_block.p6.weight"], sd["backbone.top_block.p6.bias"],
                  stride=2, padding=1)[0]
    p7 = F.conv2d(F.relu(p6)[None], sd["backbone.top_block.p7.weight"],
                  sd["backbone.top_block.p7.bias"], stride=2, padding=1)[0]
    return [level(8, up), level(16, vit_out), p5, p6, p7]


def test_pixel_mean_std_are_grit_base_config():
    # github JialianW/GRiT @39b33dbc configs/Base.yaml MODEL.PIXEL_MEAN / PIXEL_STD (RGB)
    assert tuple(G.PIXEL_MEAN) == (123.675, 116.280, 103.530)
    assert tuple(G.PIXEL_STD) == (58.395, 57.12, 57.375)


def _normalised_padded(image):
    mean = torch.tensor(G.PIXEL_MEAN).view(3, 1, 1)
    std = torch.tensor(G.PIXEL_STD).view(3, 1, 1)
    x = (image - mean) / std
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % 32, 0, -h % 32))


@pytest.mark.parametrize("hw", [(64, 64), (72, 100), (40, 120)])
def test_backbone_matches_plain_vitdet(grit, hw):
    torch.manual_seed(hw[0])
    image = torch.rand(3, *hw) * 255
    sd, s = _sd(grit), grit.sizes
    x = _normalised_padded(image)
    with torch.no_grad():
        got = grit.features(image[None])
        want = _plain_pyramid(sd, _plain_vit(sd, s, x))
    assert x.shape[-2:] == (-(-hw[0] // 32) * 32, -(-hw[1] // 32) * 32)
    for lvl, (g, w) in enumerate(zip(got, want)):
        assert g.shape[1:] == w.shape, lvl
        scale = w.abs().max().item()
        assert (g[0] - w).abs().max().item() <= 1e-4 * max(scale, 1.0), lvl


# --- detection --------------------------------------------------------------------------------

def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0  # torchvision: 0 / 0 never suppresses


def _brute_nms(boxes, scores, thresh):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        if all(_iou(boxes[i], boxes[j]) <= thresh for j in keep):
            keep.append(i)
    return keep


def _plain_proposals(sd, feats, image_hw):
    p = "proposal_generator.centernet_head."
    boxes, scores = [], []
    for lvl, f in enumerate(feats):
        t = f[None]
        for k in (0, 3, 6, 9):
            t = F.conv2d(t, sd[f"{p}bbox_tower.{k}.weight"], sd[f"{p}bbox_tower.{k}.bias"],
                         padding=1)
            t = F.relu(F.group_norm(t, 32, sd[f"{p}bbox_tower.{k + 1}.weight"],
                                    sd[f"{p}bbox_tower.{k + 1}.bias"]))
        heat = torch.sigmoid(F.conv2d(t, sd[p + "agn_hm.weight"], sd[p + "agn_hm.bias"],
                                      padding=1))[0, 0]
        reg = F.relu(F.conv2d(t, sd[p + "bbox_pred.weight"], sd[p + "bbox_pred.bias"],
                              padding=1) * sd[f"{p}scales.{lvl}.scale"])[0]
        s = G.STRIDES[lvl]
        cands = []
        for y in range(heat.shape[0]):
            for x in range(heat.shape[1]):
                if heat[y, x] > 1e-4:
                    cx, cy = x * s + s // 2, y * s + s // 2
                    l_, t_, r_, b_ = (reg[:, y, x] * s).tolist()
                    x0, y0 = cx - l_, cy - t_
                    cands.append((heat[y, x].item(), [x0, y0, max(cx + r_, x0 + 0.01),
                                                      max(cy + b_, y0 + 0.01)]))
        cands.sort(key=lambda c: -c[0])
        for sc, b in cands[:1000]:
            boxes.append(b)
            scores.append(math.sqrt(sc))
    keep = _brute_nms(boxes, scores, 0.9)
    if len(keep) > 256:
        cut = sorted(scores[i] for i in keep)[len(keep) - 256]
        keep = [i for i in keep if scores[i] >= cut]
    return [boxes[i] for i in keep], [scores[i] for i in keep]


def _decode(box, d, weights):
    w, h = box[2] - box[0], box[3] - box[1]
    cx, cy = box[0] + 0.5 * w, box[1] + 0.5 * h
    dx, dy = d[0] / weights[0], d[1] / weights[1]
    dw = min(d[2] / weights[2], math.log(1000 / 16))
    dh = min(d[3] / weights[3], math.log(1000 / 16))
    px, py, pw, ph = dx * w + cx, dy * h + cy, math.exp(dw) * w, math.exp(dh) * h
    return [px - 0.5 * pw, py - 0.5 * ph, px + 0.5 * pw, py + 0.5 * ph]


def _clip(b, hw):
    h, w = hw
    return [min(max(b[0], 0), w), min(max(b[1], 0), h), min(max(b[2], 0), w),
            min(max(b[3], 0), h)]


def _pool(feats, boxes, size):
    from torchvision.ops import roi_align
    out = []
    for b in boxes:
        lvl = int(min(max(math.floor(4 + math.log2(math.sqrt((b[2] - b[0]) * (b[3] - b[1]))
                                                       / 224 + 1e-8)), 3), 5)) - 3
        out.append(roi_align(feats[lvl][None], [torch.tensor([b], dtype=torch.float32)], size,
                             spatial_scale=1 / G.STRIDES[lvl], sampling_ratio=0,
                             aligned=True)[0])
    return torch.stack(out)


def _plain_boxes(sd, feats, props, prop_scores, hw):
    boxes, probs = props, []
    for k in range(3):
        if k:
            boxes = [_clip(b, hw) for b in boxes]
        x = _pool(feats, boxes, 7).flatten(1)
        h = f"roi_heads.box_head.{k}."
        x = F.relu(x @ sd[h + "fc1.weight"].T + sd[h + "fc1.bias"])
        x = F.relu(x @ sd[h + "fc2.weight"].T + sd[h + "fc2.bias"])
        p = f"roi_heads.box_predictor.{k}."
        probs.append(F.softmax(x @ sd[p + "cls_score.weight"].T + sd[p + "cls_score.bias"], -1))
        d = F.relu(x @ sd[p + "bbox_pred.0.weight"].T + sd[p + "bbox_pred.0.bias"])
        d = d @ sd[p + "bbox_pred.2.weight"].T + sd[p + "bbox_pred.2.bias"]
        boxes = [_decode(b, dd, G.CASCADE_WEIGHTS[k]) for b, dd in zip(boxes, d.tolist())]
    fg = (sum(probs) / 3)[:, 0].tolist()
    scores = [math.sqrt(f * ps) for f, ps in zip(fg, prop_scores)]
    boxes = [_clip(b, hw) for b in boxes]
    kept = [i for i, s in enumerate(scores) if s > 0.5]
    keep = _brute_nms([boxes[i] for i in kept], [scores[i] for i in kept], 0.5)[:256]
    out = [(boxes[kept[i]], scores[kept[i]]) for i in keep]
    return [(b, s) for b, s in out if b[2] - b[0] > 0 and b[3] - b[1] > 0]


# --- text decoder -----------------------------------------------------------------------------

def _plain_bert_layer(sd, pre, x, mask, heads):
    d = x.shape[-1]
    hd = d // heads

    def lin(t, name):
        return t @ sd[pre + name + ".weight"].T + sd[pre + name + ".bias"]

    def ln(t, name):
        return F.layer_norm(t, (d,), sd[pre + name + ".weight"], sd[pre + name + ".bias"], 1e-12)
    q, k, v = lin(x, "attention.self.query"), lin(x, "attention.self.key"), \
        lin(x, "attention.self.value")
    ctx = []
    for n in range(heads):
        sl = slice(n * hd, (n + 1) * hd)
        a = (q[:, sl] / math.sqrt(hd)) @ k[:, sl].T + mask
        ctx.append(a.softmax(-1) @ v[:, sl])
    x = ln(lin(torch.cat(ctx, 1), "attention.output.dense") + x, "attention.output.LayerNorm")
    mid = lin(x, "intermediate.dense")
    mid = mid * 0.5 * (1.0 + torch.erf(mid / math.sqrt(2.0)))
    return ln(lin(mid, "output.dense") + x, "output.LayerNorm")


def _plain_logits(sd, s, memory, tokens):
    """TransformerDecoderTextualHead + BertEncoderAsDecoder on one box: the whole sequence."""
    t = "roi_heads.text_decoder.textual."
    d = s.text_hidden
    mem = memory @ sd[t + "object_feature_projection.0.weight"].T + \
        sd[t + "object_feature_projection.0.bias"]
    mem = F.layer_norm(mem, (d,), sd[t + "object_feature_projection.1.weight"],
                       sd[t + "object_feature_projection.1.bias"])
    n = len(tokens)
    emb = sd[t + "embedding.words.weight"][tokens] + sd[t + "embedding.positions.weight"][:n]
    emb = F.layer_norm(emb, (d,), sd[t + "embedding.layer_norm.weight"],
                       sd[t + "embedding.layer_norm.bias"], 1e-8)
    m = len(mem)
    mask = torch.zeros(m + n, m + n)
    mask[:m, m:] = float("-inf")  # memory never sees the text
    mask[m:, m:] = torch.triu(torch.full((n, n), float("-inf")), diagonal=1)
    x = torch.cat([mem, emb])
    for i in range(s.text_layers):
        x = _plain_bert_layer(sd, f"{t}transformer.encoder.layer.{i}.", x, mask,
                              d // G.TEXT_HEAD_DIM)
    return x[m:] @ sd[t + "embedding.words.weight"].T + sd[t + "output.bias"]


def _plain_greedy(sd, s, memory, begin, eos, max_steps=40):
    tokens = [begin]
    lp = F.log_softmax(_plain_logits(sd, s, memory, tokens)[-1], -1)
    tokens.append(int(lp.argmax()))
    total = lp.max().item()
    while len(tokens) < max_steps and tokens[-1] != eos:
        logits = _plain_logits(sd, s, memory, tokens)[-1]
        logits[tokens[-1]] = -10000  # no immediate repetition
        lp = F.log_softmax(logits, -1)
        tokens.append(int(lp.argmax()))
        total += lp.max().item()
    generated = len(tokens) - 1  # with the first [SEP], without the begin token
    return tokens, total / max(generated, 1)


def test_greedy_description_matches_full_sequence_recomputation(grit, tok):
    sd, s = _sd(grit), grit.sizes
    torch.manual_seed(1)
    memory = torch.randn(3, 9, s.channels)
    for begin in (tok.cls_token_id, 104):
        with torch.no_grad():
            tokens, logprob = G.greedy_describe(grit.roi_heads.text_decoder.textual, memory,
                                                begin, tok.sep_token_id)
            for i in range(len(memory)):
                want, want_lp = _plain_greedy(sd, s, memory[i], begin, tok.sep_token_id)
                got = tokens[i].tolist()
                # finished rows keep emitting [SEP] (log-probability 0) until all are done
                assert got[:len(want)] == want
                assert all(t == tok.sep_token_id for t in got[len(want):])
                assert logprob[i].item() == pytest.approx(want_lp, rel=1e-4, abs=1e-5)


def test_greedy_rules_by_hand():
    """Forced [SEP] after [SEP], no immediate repetition, 40 tokens at most, normalisation by
    the generated tokens including the first [SEP]."""
    class Scripted(torch.nn.Module):  # logits from a table: (position, last token) -> row
        def __init__(self, table, vocab=6):
            super().__init__()
            self.table, self.vocab = table, vocab

        def memory(self, feats):
            return []

        def step(self, tokens, position, cache):
            rows = [self.table(position, int(t)) for t in tokens]
            return torch.tensor(rows, dtype=torch.float32)

    eos = 3

    def table(pos, last):
        row = [0.0] * 6
        if last == 0:  # begin: token 5 best
            row[5] = 4.0
        elif last == 5:  # 5 again would be best, but it is blocked: 4 next
            row[5], row[4] = 9.0, 2.0
        elif last == 4:
            row[eos] = 3.0
        return row
    tokens, lp = G.greedy_describe(Scripted(table), torch.zeros(2, 1, 1), 0, eos)
    assert tokens.tolist() == [[0, 5, 4, eos]] * 2
    want = [F.log_softmax(torch.tensor(table(0, 0)), 0)[5],
            F.log_softmax(torch.tensor(table(1, 5)).index_fill(0, torch.tensor([5]), -10000),
                          0)[4],
            F.log_softmax(torch.tensor(table(2, 4)).index_fill(0, torch.tensor([4]), -10000),
                          0)[eos]]
    assert lp[0].item() == pytest.approx(sum(w.item() for w in want) / 3, rel=1e-6)
    # never ending: alternating 1, 2 up to 40 tokens with the begin token, normalised by 39
    tokens, lp = G.greedy_describe(Scripted(lambda p, last: [0, 1, 1, 0, 0, 0]),
                                   torch.zeros(1, 1, 1), 0, eos)
    assert tokens.shape[1] == 40 and tokens[0, 1:4].tolist() == [1, 2, 1]


# --- the whole detector -----------------------------------------------------------------------

@pytest.mark.parametrize("hw", [(64, 64), (72, 100)])
def test_detect_matches_plain_pipeline(grit, tok, hw):
    torch.manual_seed(sum(hw))
    image = torch.rand(3, *hw) * 255
    sd, s = _sd(grit), grit.sizes
    with torch.no_grad():
        got = grit.detect(image[None], tok, ("DenseCap", "ObjectDet"))[0]
        feats = [f[0] for f in grit.features(image[None])]
        props, prop_scores = _plain_proposals(sd, feats, hw)
        dets = _plain_boxes(sd, feats, props, prop_scores, hw)
    assert len(dets) > 0, "the fixture should detect something"
    assert len(got["boxes"]) == len(dets)
    want_boxes = torch.tensor([b for b, _ in dets])
    assert (got["boxes"] - want_boxes).abs().max().item() <= 1e-3 * max(hw)
    assert got["int_boxes"] == [[int(v) for v in b] for b in got["boxes"].tolist()]
    some = dets[:3]  # the plain decoder re-runs the whole sequence per token: a few boxes
    obj = torch.stack([_pool(feats, [b], 14)[0] for b, _ in some])
    obj = obj.flatten(2).permute(0, 2, 1)
    for task, begin in (("ObjectDet", tok.cls_token_id), ("DenseCap", 104)):
        assert len(got[task]) == len(dets)
        for i, (b, score) in enumerate(some):
            tokens, lp = _plain_greedy(sd, s, obj[i], begin, tok.sep_token_id)
            text = tok.decode(tokens[1:], skip_special_tokens=True,
                              clean_up_tokenization_spaces=True)
            assert got[task][i] == text
            assert got[f"{task}_scores"][i].item() == pytest.approx(
                math.sqrt(score * math.exp(lp)), rel=1e-4)


def test_batched_frames_equal_one_at_a_time(grit, tok):
    torch.manual_seed(5)
    frames = torch.rand(2, 3, 48, 80) * 255
    with torch.no_grad():
        batched = grit.detect(frames, tok, ("ObjectDet",))
        single = [grit.detect(f[None], tok, ("ObjectDet",))[0] for f in frames]
    for b, s in zip(batched, single):
        assert b["ObjectDet"] == s["ObjectDet"] and b["int_boxes"] == s["int_boxes"]
        assert torch.allclose(b["boxes"], s["boxes"], rtol=1e-4, atol=1e-3)


def test_checkpoint_loading_is_strict(grit):
    sd = grit.state_dict()
    G.load_grit({"model": dict(sd), "iteration": 1})
    G.load_grit(dict(sd))  # a bare state dict
    with pytest.raises(RuntimeError, match="Missing key"):
        G.load_grit({"model": {k: v for k, v in sd.items() if "mask_head.predictor" not in k}})
    with pytest.raises(RuntimeError, match="Unexpected key"):
        G.load_grit({"model": {**sd, "roi_heads.extra.weight": torch.zeros(1)}})
    with pytest.raises(ValueError, match="pixel_mean"):
        G.load_grit({"model": {**sd, "pixel_mean": torch.zeros(3, 1, 1)}})
    G.load_grit({"model": {**sd, "pixel_mean": torch.tensor(G.PIXEL_MEAN).view(3, 1, 1)}})
    s = G.sizes_from_state_dict(sd)
    assert (s.depth, s.num_heads, s.window_blocks, s.window_size) == (3, 2, (0, 2), 3)
    assert (s.text_layers, s.channels, s.fc_dim, s.img_size) == (2, 64, 48, 128)


# --- the VBench scorer on the fixture checkpoint ------------------------------------------------

def test_scorer_grit_dimensions_match_the_formulas(fx, tmp_path):
    """The four GRiT dimensions through the scorer (fixture checkpoint and tokenizer loaded
    from ``scorer_path``; two videos scored in one batch) equal upstream's checks (test-only
    extract) on an independent GRiT run over the 16 middle frames of each video."""
    import numpy as np

    from evalsuite.capabilities.vbench import formulas as D
    from evalsuite.policies.base import GenItem, GenUnit
    from evalsuite.policies.runner import write_video
    from evalsuite.capabilities.vbench.suite import VBench
    from tests.reference import vbench_semantic_dims as R

    scorers = fx("vbench") / "scorers"
    aux = {"object_class": {"object": "cat"},
           "multiple_objects": {"object": "cat and dog"},
           "color": {"color": "black"},
           "spatial_relationship": {"spatial_relationship": {
               "object_a": "cat", "object_b": "dog", "relationship": "on the right of"}}}
    dims = list(aux)
    bench = VBench(scorer_path=str(scorers))
    sc = bench.scorer("cpu", "float32")
    sc.load()
    rng = np.random.default_rng(0)
    videos, prepared = [], []
    for k, n in enumerate((5, 20)):  # fewer and more frames than the 16 sampled
        frames = rng.integers(0, 256, (n, 48, 64, 3), dtype=np.uint8)
        path = tmp_path / "samples" / "x" / f"v{k}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, frames)
        unit = GenUnit(GenItem("vbench:0000", "a black cat", dims[0],
                               {"dimension": dims, "auxiliary_info": aux}), k, 1)
        prepared.append(sc.prepare(unit, path))
        videos.append(prepared[-1]["frames"])
    out = [s.extras for s in sc.score_batch(prepared)]

    tok = __import__("transformers").BertTokenizer.from_pretrained(scorers / "bert-base-uncased")
    model = G.load_grit(torch.load(scorers / "grit_model" / "grit_b_densecap_objectdet.pth",
                                   weights_only=True))
    for frames, ex in zip(videos, out):
        assert not ex["errors"] and not ex["unavailable"], ex
        x = G.frames_to_tensor(frames[D.middle_frame_indices(16, len(frames))])
        with torch.no_grad():
            det = [model.detect(f[None], tok, ("ObjectDet",))[0] for f in x]
            dense = [model.detect(f[None], tok, ("DenseCap", "ObjectDet"))[0] for f in x]
        rets = [([(d, b, o["ObjectDet"]) for d, b in zip(o["ObjectDet"], o["int_boxes"])], None)
                for o in det]
        sets = [R.object_class_frame(r) for r in rets]
        assert ex["object_class"] == R.object_class_check_generate("cat", sets) / 16
        assert ex["object_class_frames"] == 16
        assert ex["multiple_objects"] == R.multiple_objects_check_generate("cat and dog",
                                                                           sets) / 16
        scores = R.spatial_check_generate(aux["spatial_relationship"]["spatial_relationship"],
                                          [R.spatial_frame(r) for r in rets])
        assert ex["spatial_relationship"] == pytest.approx(float(np.mean(scores)), abs=1e-12)
        drets = [([(d, b, o["ObjectDet"]) for d, b in zip(o["DenseCap"], o["int_boxes"])],
                  None) for o in dense]
        obj = R.color_object_info("a black cat", "black")
        n_obj, n_col = R.color_check_generate("black", obj, [R.color_frame(r) for r in drets])
        assert ex["color"] == (n_col / n_obj if n_obj else None)
        # the fixture describes every box "cat" (ObjectDet) / "black cat" (DenseCap)
        assert ex["object_class"] == 1.0 and ex["color"] == 1.0
