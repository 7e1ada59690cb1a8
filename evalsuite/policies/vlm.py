"""A VLM policy answering multiple-choice questions about images and videos: Qwen2.5-VL via
transformers (``Qwen2_5_VLForConditionalGeneration`` + ``AutoProcessor``).

* ``prepare_mcq`` (prefetch threads): decode the images / sample the video's frames with the
  benchmark's :class:`~evalsuite.types.FrameSpec` (:func:`evalsuite.media.load_video`), and
  render the chat template.
* ``answer_batch``: one processor call for the batch (left padding so every prompt ends at
  the same column), one greedy ``generate`` (``do_sample=False``), decode the new tokens.

Options (``--option k=v``): ``max_new_tokens`` (default 32), ``device_map=auto``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from evalsuite.policies.base import McqItem, Policy


@dataclass
class PreparedMcq:
    text: str
    images: list[Any]
    videos: list[Any]
    video_fps: list[float]


class QwenVLPolicy(Policy):
    name: ClassVar[str] = "qwen2.5-vl"
    fixture: ClassVar[str | None] = "unifiedreward-qwen"  # a tiny Qwen2.5-VL
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "max_new_tokens": "cap on answer tokens (32)",
        "device_map": "transformers device_map",
    }
    task: ClassVar[str] = "mcq"
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "video"})
    default_model: ClassVar[str] = "Qwen/Qwen2.5-VL-7B-Instruct"
    default_batch_size: ClassVar[int] = 8

    def load(self) -> None:
        if getattr(self, "model", None) is not None:
            return
        import torch
        from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

        from evalsuite.judges.base import torch_dtype

        self._torch = torch
        self.processor = AutoProcessor.from_pretrained(self.source, revision=self._revision())
        dm = self.options.get("device_map")
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
            self.source, revision=self._revision(), dtype=torch_dtype(self.dtype),
            **({"device_map": dm} if dm else {}))
        self.model = (model if dm else model.to(self.device)).eval()
        tok = self.processor.tokenizer
        tok.padding_side = "left"
        if tok.pad_token_id is None:
            raise ValueError("the checkpoint's tokenizer has no pad token; batching needs one")

    def _processor(self):
        if getattr(self, "processor", None) is None:  # prepare may run before load()
            from transformers import AutoProcessor
            self.processor = AutoProcessor.from_pretrained(self.source,
                                                           revision=self._revision())
            self.processor.tokenizer.padding_side = "left"
        return self.processor

    def prepare_mcq(self, item: McqItem) -> PreparedMcq:
        from evalsuite.media import load_image, load_video

        images, videos, fps, content = [], [], [], []
        for ref in item.media:
            if ref.kind == "image":
                images.append(load_image(ref))
                content.append({"type": "image"})
            else:
                if item.frames is None:
                    raise ValueError("a video question needs a FrameSpec")
                frames = load_video(ref, item.frames)
                from evalsuite.judges.unifiedreward import video_header
                total, native, _, _ = video_header(ref)
                seconds = total / native if native > 0 else 0.0
                videos.append(frames)
                fps.append(len(frames) / seconds if seconds > 0 else 1.0)
                content.append({"type": "video"})
        content.append({"type": "text", "text": item.prompt})
        text = self._processor().apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True)
        return PreparedMcq(text, images, videos, fps)

    def answer_batch(self, prepared: list[PreparedMcq]) -> list[str]:
        torch = self._torch
        images = [im for p in prepared for im in p.images]
        videos = [v for p in prepared for v in p.videos]
        kw: dict[str, Any] = {}
        if videos:
            kw.update(videos=videos, do_sample_frames=False,
                      video_metadata=[{"total_num_frames": len(v), "fps": f}
                                      for p in prepared for v, f in zip(p.videos, p.video_fps)])
        inputs = self.processor(text=[p.text for p in prepared], images=images or None,
                                padding=True, return_tensors="pt", **kw).to(self.model.device)
        for k, v in inputs.items():
            if torch.is_floating_point(v):
                inputs[k] = v.to(self.model.dtype)
        tok = self.processor.tokenizer
        with torch.inference_mode():
            out = self.model.generate(**inputs, do_sample=False, temperature=None, top_p=None,
                                      top_k=None, pad_token_id=tok.pad_token_id,
                                      max_new_tokens=int(self.options.get("max_new_tokens",
                                                                          32)))
        gen = out[:, inputs["input_ids"].shape[1]:]
        return tok.batch_decode(gen, skip_special_tokens=True,
                                clean_up_tokenization_spaces=False)
