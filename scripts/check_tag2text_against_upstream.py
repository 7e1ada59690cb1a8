"""Compare evalsuite's Tag2Text (evalsuite.capabilities.vbench.networks.tag2text) with the
upstream model.

    python scripts/check_tag2text_against_upstream.py <VBench checkout> [--layers 12]
        [--batches 1,4,16] [--tokenizer <bert-base-uncased folder>]

Imports upstream's own files from ``<checkout>/vbench/third_party/tag2Text`` (github
Vchitect/VBench @45e79ec; nothing of it is copied here): ``swin_transformer.py
SwinTransformer``, ``med.py BertModel`` / ``BertLMHeadModel``, ``tag2text.py
Tag2Text_Caption.generate`` and ``GroupWiseLinear``, ``tag_class.py tra_array``. Upstream
pins transformers 4.33; on the installed transformers a few removed helpers are shimmed with
their 4.33 behaviour (``init_weights`` replaced by the 4.33 weight tie of the LM head,
``invert_attention_mask``, ``get_head_mask``, the ``modeling_utils`` re-exports), and the
decoder's ``generate`` is transformers 4.33's beam search (the test-only extract in
``tests/reference/hf433_beam_search.py``, with its ``repeat_interleave`` of the encoder
states) around the upstream decoder's forward. The model is built around
``Tag2Text_Caption.generate`` without its ``__init__`` (which downloads bert-base-uncased).

Random weights (Swin-B and 768-wide BERTs; ``--layers`` BERT layers, 12 upstream) are
loaded into both sides by upstream's parameter names; compared for batches of several sizes
(the caption of frame b depends on the frames captioned with it): image tokens, tag logits,
tag strings and captions (must be equal). Prints max |diff| per output and exits non-zero
on a mismatch.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import types
from pathlib import Path

import torch
from torch import nn


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _shims() -> None:
    import transformers.modeling_utils as mu
    import transformers.pytorch_utils as pu
    for name in ("apply_chunking_to_forward", "find_pruneable_heads_and_indices",
                 "prune_linear_layer"):
        if not hasattr(mu, name):
            setattr(mu, name, getattr(pu, name, lambda *a, **k: None))
    if importlib.util.find_spec("fairscale") is None:  # vit.py imports it (ViT not used)
        for name in ("fairscale", "fairscale.nn", "fairscale.nn.checkpoint"):
            sys.modules.setdefault(name, types.ModuleType(name))
        sys.modules["fairscale.nn.checkpoint.checkpoint_activations"] = types.SimpleNamespace(
            checkpoint_wrapper=lambda m, **k: m)


def upstream(checkout: Path):
    _shims()
    root = checkout / "vbench" / "third_party" / "tag2Text"
    pkg = types.ModuleType("upstream_tag2text")
    pkg.__path__ = [str(root)]
    sys.modules["upstream_tag2text"] = pkg
    med = _load("upstream_tag2text.med", root / "med.py")
    base = med.BertPreTrainedModel

    def invert_attention_mask(self, mask):  # transformers 4.33 ModuleUtilsMixin
        ext = mask[:, None, :, :] if mask.dim() == 3 else mask[:, None, None, :]
        ext = ext.to(dtype=self.dtype)
        return (1.0 - ext) * torch.finfo(self.dtype).min
    base.init_weights = lambda self: None
    base.invert_attention_mask = invert_attention_mask
    base.get_head_mask = lambda self, head_mask, n: [None] * n
    swin = _load("upstream_tag2text.swin_transformer", root / "swin_transformer.py")
    tag2text = _load("upstream_tag2text.tag2text", root / "tag2text.py")
    return root, med, swin, tag2text


def build_upstream(root, med, swin, tag2text, ours, tok, layers: int):
    from tests.reference import hf433_beam_search as H

    def config(name, width, vocab=None, n=None):
        cfg = med.BertConfig.from_json_file(str(root / name))
        cfg.encoder_width = width
        if vocab:
            cfg.vocab_size = vocab
        if n:
            cfg.num_hidden_layers = n
        return cfg
    m = tag2text.Tag2Text_Caption.__new__(tag2text.Tag2Text_Caption)
    nn.Module.__init__(m)
    m.visual_encoder = swin.SwinTransformer(
        img_size=384, patch_size=4, in_chans=3, embed_dim=128, depths=[2, 2, 18, 2],
        num_heads=[4, 8, 16, 32], window_size=12, mlp_ratio=4., qkv_bias=True, drop_rate=0.0,
        drop_path_rate=0.1, ape=False, patch_norm=True, use_checkpoint=False)
    m.tokenizer = tok
    tok.enc_token_id = tok.convert_tokens_to_ids("[ENC]")  # tag2text.py init_tokenizer
    m.text_decoder = med.BertLMHeadModel(config=config("med_config.json", 768, len(tok), layers))
    m.text_decoder.cls.predictions.decoder.weight = \
        m.text_decoder.bert.embeddings.word_embeddings.weight  # 4.33 tie_weights
    m.tag_encoder = med.BertModel(config=config("med_config.json", 1024, len(tok), layers),
                                  add_pooling_layer=False)
    m.prompt = "a picture of "
    m.prompt_length = len(tok(m.prompt).input_ids) - 1
    m.threshold = 0.7
    m.num_class = 3429
    m.vision_multi = med.BertModel(config=config("q2l_config.json", 1024, len(tok)),
                                   add_pooling_layer=False)
    m.label_embed = nn.Embedding(3429, 768)
    m.fc = tag2text.GroupWiseLinear(3429, 768, bias=True)
    m.del_selfattention()
    tag2text.tie_encoder_decoder_weights(m.tag_encoder, m.vision_multi, "", " ")
    m.tag_array = tag2text.tra_array
    missing, unexpected = m.load_state_dict(ours.state_dict(), strict=False)
    derived = ("relative_position_index", "attn_mask", "position_ids")
    assert not unexpected and all(k.rsplit(".", 1)[-1] in derived for k in missing), \
        (missing, unexpected)
    decoder = m.text_decoder

    def generate(input_ids, max_length, min_length, num_beams, eos_token_id, pad_token_id,
                 repetition_penalty=1.0, encoder_hidden_states=None,
                 encoder_attention_mask=None):
        assert repetition_penalty == 1.0

        def logits(ids, kw):
            return decoder(ids, attention_mask=torch.ones_like(ids),
                           encoder_hidden_states=kw["encoder_hidden_states"],
                           encoder_attention_mask=kw["encoder_attention_mask"],
                           return_dict=True).logits[:, -1, :]
        return H.generate_beam(logits, input_ids, num_beams, max_length, min_length,
                               eos_token_id, pad_token_id,
                               encoder_hidden_states=encoder_hidden_states,
                               encoder_attention_mask=encoder_attention_mask)
    decoder.generate = generate
    return m.eval()


def main() -> int:
    from evalsuite.capabilities.vbench.networks import tag2text as T

    ap = argparse.ArgumentParser()
    ap.add_argument("checkout", type=Path, help="a VBench checkout (github Vchitect/VBench)")
    ap.add_argument("--layers", type=int, default=12, help="BERT layers (12 upstream)")
    ap.add_argument("--batches", default="1,4,16")
    ap.add_argument("--tokenizer", help="a bert-base-uncased folder (default: a tiny one)")
    args = ap.parse_args()
    root, med, swin, tag2text = upstream(args.checkout)
    if args.tokenizer:
        tok = T.load_tokenizer(args.tokenizer)
    else:
        from evalsuite.fixtures.tokenizers import bert_tokenizer
        folder = tempfile.mkdtemp()
        bert_tokenizer(extra_words=("picture", "alley", "street")).save_pretrained(folder)
        tok = T.load_tokenizer(folder)
    names_equal = list(tag2text.tra_array) == list(T.tag_names())
    print(f"tag names equal to tag_class.py: {names_equal}")
    torch.manual_seed(0)
    ours = T.Tag2Text(T.Tag2TextSizes(layers=args.layers, vocab_size=len(tok))).eval()
    with torch.no_grad():
        for name, p in ours.named_parameters():
            if p.dim() > 1:
                p.normal_(0, 0.05)
            elif "norm" in name.lower():
                p.normal_(1.0, 0.1)
            else:
                p.normal_(0, 0.1)
        ours.fc.b.normal_(-1.0, 1.0)
        for layer in ours.text_decoder.bert.encoder.layer:  # captions that follow the tags
            layer.attention.output.dense.weight.mul_(0.1)
            layer.crossattention.self.value.weight.normal_(0, 0.3)
            layer.crossattention.output.dense.weight.normal_(0, 0.3)
    theirs = build_upstream(root, med, swin, tag2text, ours, tok, args.layers)
    failed = not names_equal
    with torch.no_grad():  # the caption decoder on given tokens and tag memories
        ids = torch.randint(5, len(tok) - 2, (6, 12))
        memory = torch.randn(6, 40, 768)
        want = theirs.text_decoder(ids, attention_mask=torch.ones_like(ids),
                                   encoder_hidden_states=memory, return_dict=True).logits
        cache: list = []
        got = torch.stack([ours.text_decoder.step(ids[:, i:i + 1], i, cache, memory)
                           for i in range(ids.shape[1])], 1)
        d = (got - want).abs().max().item()
        failed |= d > 1e-3 * max(1.0, want.abs().max().item())
        print(f"decoder logits (12 tokens, cached) max|diff| {d:.3e}")
        tag_ids = torch.randint(5, len(tok) - 2, (3, 40))
        mask = torch.ones_like(tag_ids)
        mask[1, 20:] = mask[2, 7:] = 0
        image = torch.randn(3, 145, 1024)
        want = theirs.tag_encoder(tag_ids, attention_mask=mask, encoder_hidden_states=image,
                                  encoder_attention_mask=torch.ones(3, 145, dtype=torch.long),
                                  return_dict=True).last_hidden_state
        got = T.encode(ours.tag_encoder, tag_ids, mask, image)
        d = (got - want).abs().max().item()
        failed |= d > 1e-3 * max(1.0, want.abs().max().item())
        print(f"tag encoder (padded tags)          max|diff| {d:.3e}")
    with torch.no_grad():
        for n in map(int, args.batches.split(",")):
            yy, xx = torch.meshgrid(torch.linspace(-1, 1, 384), torch.linspace(-1, 1, 384),
                                    indexing="ij")
            images = torch.stack([torch.stack([torch.sin((b + 1) * 3 * xx), torch.cos(
                (b + 2) * yy), xx * yy * (b - 2)]) + 0.3 * torch.randn(3, 384, 384)
                for b in range(n)])
            a, b = ours.visual_encoder(images), theirs.visual_encoder(images)
            d = (a - b).abs().max().item()
            print(f"batch {n:2d} image tokens          max|diff| {d:.3e}")
            la = ours.tag_logits(a)
            lb = theirs.fc(theirs.vision_multi(
                encoder_embeds=theirs.label_embed.weight.unsqueeze(0).repeat(n, 1, 1),
                encoder_hidden_states=b, encoder_attention_mask=torch.ones(
                    b.shape[:-1], dtype=torch.long), return_dict=False, mode="mlr")[0])
            print(f"batch {n:2d} tag logits            max|diff| {(la - lb).abs().max():.3e}")
            cap_a, tags_a = ours.caption(images, tok)
            cap_b, tags_b = theirs.generate(images, tag_input=None, return_tag_predict=True)
            # upstream returns the first n of its per-beam repeated tag list (scene.py does
            # not read them): t0, t0, t0, t1, ...
            same_tags = [t for t in tags_a for _ in range(3)][:n] == list(tags_b)
            same_caps = cap_a == list(cap_b)
            failed |= not (same_tags and same_caps) or d > 1e-3
            print(f"batch {n:2d} tags equal: {same_tags}; captions equal: {same_caps} "
                  f"({len(set(cap_a))} distinct; e.g. {cap_a[0][:50]!r})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
