"""ImageReward and PickScore see the image as their reference code does (palette and RGBA
images included). Oracles: ImageReward's ``_transform`` restated with torchvision
(github THUDM/ImageReward ImageReward/ImageReward.py: Resize(224, BICUBIC), CenterCrop(224),
convert("RGB"), ToTensor, Normalize) on ``Image.open(path)``; PickScore's README call,
``processor(images=Image.open(path))`` with the installed processor."""

from __future__ import annotations

import io

import numpy as np
import pytest

from evalsuite.types import Candidate, MediaRef, PointItem

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _png(img) -> MediaRef:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return MediaRef(kind="image", data=buf.getvalue())


def _images():
    """An RGBA image with varying alpha and colour under it, and a palette image."""
    from PIL import Image

    rng = np.random.default_rng(0)
    rgba = Image.fromarray(rng.integers(0, 256, (60, 90, 4), dtype=np.uint8), "RGBA")
    pal = Image.fromarray(rng.integers(0, 256, (70, 50, 3), dtype=np.uint8)).convert(
        "P", palette=Image.Palette.ADAPTIVE, colors=16)
    return {"rgba": rgba, "palette": pal}


@pytest.fixture(scope="module")
def imagereward(fx):
    from evalsuite.registry import JUDGES

    j = JUDGES.create("imagereward", model_path=str(fx("imagereward")), device="cpu")
    j.load()
    return j


@pytest.fixture(scope="module")
def pickscore(fx):
    from evalsuite.registry import JUDGES

    j = JUDGES.create("pickscore", model_path=str(fx("pickscore")), device="cpu")
    j.load()
    return j


@pytest.mark.parametrize("kind", ["rgba", "palette"])
def test_imagereward_resizes_the_image_as_stored(imagereward, kind):
    import torch
    from PIL import Image
    from torchvision import transforms as T

    img = _images()[kind]
    upstream = T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BICUBIC),
                          T.CenterCrop(224), lambda im: im.convert("RGB"), T.ToTensor(),
                          T.Normalize(CLIP_MEAN, CLIP_STD)])
    ref = _png(img)
    got = imagereward.prepare_point(PointItem("p", "a cat", Candidate(media=ref)))
    want = upstream(Image.open(io.BytesIO(ref.data)))
    assert torch.equal(got["pixel_values"], want)
    # converting first (the old order) gives other pixels: the test can tell them apart
    assert not torch.equal(upstream(Image.open(io.BytesIO(ref.data)).convert("RGB")), want)


def test_pickscore_composites_transparency_like_its_processor(pickscore):
    import torch
    from PIL import Image

    ref = _png(_images()["rgba"])
    got = pickscore.prepare_point(PointItem("p", "a cat", Candidate(media=ref)))
    raw = Image.open(io.BytesIO(ref.data))
    want = pickscore.processor(images=raw, return_tensors="pt")["pixel_values"][0]
    assert torch.equal(got["pixel_values"], want)
    dropped = pickscore.processor(images=raw.convert("RGB"),
                                  return_tensors="pt")["pixel_values"][0]
    assert not torch.equal(dropped, want)  # alpha on white differs from dropping alpha
