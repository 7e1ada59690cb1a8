"""VBench ``motion_smoothness``: the AMT-S frame interpolator, re-implemented.

Facts from github Vchitect/VBench @45e79ec (no code copied): ``vbench/motion_smoothness.py``,
``vbench/third_party/amt/cfgs/AMT-S.yaml`` (``corr_radius=3, corr_lvls=4, num_flows=3``) and
``vbench/third_party/amt/networks/AMT-S.py`` + ``networks/blocks/{feat_enc,ifrnet,raft,
multi_flow}.py`` + ``utils/{flow_utils,utils}.py``:

* model - a RAFT small feature encoder (instance norm, 84 channels at 1/8) feeding a
  bidirectional all-pairs correlation pyramid (4 levels, radius 3, bilinear lookups; the
  window offsets are stacked (dy, dx) and added to (x, y) coordinates, as in RAFT); an
  IFRNet pyramid encoder (20, 32, 44, 56 channels, PReLU); decoders from 1/16 up to full
  resolution with three RAFT-style update blocks (at 1/8, with 2x and 4x resampling) and a
  final decoder predicting 3 flow pairs, blend masks and residuals, merged by backward
  warping (border padding) and a small combination conv; the output is clamped to [0, 1].
  Parameter names are the checkpoint's (``amt-s.pth``, ``{"state_dict": ...}``);
* protocol - every frame decoded (RGB), the even frames (0, 2, 4, ...) as uint8 / 255,
  replicate-padded to a multiple of 16 (upstream's VRAM-based downscale is gated on
  ``self.device == 'cuda'``, which the ``torch.device`` that ``evaluate.py`` passes never
  equals, so it never applies: scale 1);
  the frame between each consecutive pair predicted at t = 0.5 (one iteration);
  predictions unpadded and turned back to uint8 by ``(x * 255).clip(0, 255)`` (truncation);
  the per-video score is (255 - mean |odd frame - its prediction|) / 255 and the dimension
  the mean over videos.
"""

from __future__ import annotations

import numpy as np

from evalsuite.capabilities.vbench.formulas import mae_score

RADIUS, LEVELS, NUM_FLOWS = 3, 4, 3  # cfgs/AMT-S.yaml network.params
CHANNELS, SKIP = (20, 32, 44, 56), 20  # networks/AMT-S.py Model defaults
EMBT = 0.5  # motion_smoothness.py: self.embt = 1/2
PAD_TO = 16  # motion_smoothness.py: padding = int(16 / scale), scale 1
# 1/8-resolution features, 3 pools: a level-4 map below 2 px makes bilinear_sampler divide
# by W - 1 = 0 (upstream then casts NaN frames to uint8); refused instead
MIN_SIDE = 8 * 2 ** LEVELS


def pad_amounts(h: int, w: int, divisor: int) -> tuple[int, int, int, int]:
    """utils.py ``InputPadder``: (left, right, top, bottom) up to a multiple of ``divisor``."""
    ph, pw = (-h) % divisor, (-w) % divisor
    return pw // 2, pw - pw // 2, ph // 2, ph - ph // 2


def smoothness_from_predictions(frames: np.ndarray, predicted: np.ndarray) -> float:
    """(255 - mean over pairs of mean |frame_{2i+1} - prediction_i|) / 255, exact on uint8
    (``cv2.absdiff``); ``frames`` are every decoded frame (T, H, W, 3) uint8, ``predicted``
    the uint8 in-betweens of the even frames (floor((T - 1) / 2), H, W, 3)."""
    return mae_score(frames[1::2][:len(predicted)], predicted, dtype=np.int16)


def build_amt(corr_radius: int = RADIUS, corr_levels: int = LEVELS,
              num_flows: int = NUM_FLOWS):
    """AMT-S with the checkpoint's module names (random weights)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def resize(x, factor):
        return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)

    def warp(img, flow):  # backward warp by a pixel flow, border padding (flow_utils.warp)
        b, _, h, w = flow.shape
        xx = torch.linspace(-1.0, 1.0, w).view(1, 1, 1, w).expand(b, -1, h, -1)
        yy = torch.linspace(-1.0, 1.0, h).view(1, 1, h, 1).expand(b, -1, -1, w)
        grid = torch.cat([xx, yy], 1).to(img)
        norm = torch.cat([flow[:, :1] / ((w - 1.0) / 2.0), flow[:, 1:2] / ((h - 1.0) / 2.0)], 1)
        return F.grid_sample(img, (grid + norm).permute(0, 2, 3, 1), mode="bilinear",
                             padding_mode="border", align_corners=True)

    def convrelu(cin, cout, k=3, stride=1, pad=1):
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad), nn.PReLU(cout))

    class Bottleneck(nn.Module):  # feat_enc.py BottleneckBlock, instance norm (no weights)
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout // 4, 1)
            self.conv2 = nn.Conv2d(cout // 4, cout // 4, 3, padding=1, stride=stride)
            self.conv3 = nn.Conv2d(cout // 4, cout, 1)
            self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride),
                                             nn.InstanceNorm2d(cout))
                               if stride != 1 else None)

        def forward(self, x):
            y = F.relu(F.instance_norm(self.conv1(x)))
            y = F.relu(F.instance_norm(self.conv2(y)))
            y = F.relu(F.instance_norm(self.conv3(y)))
            return F.relu((x if self.downsample is None else self.downsample(x)) + y)

    class FeatEncoder(nn.Module):  # feat_enc.py SmallEncoder(output_dim=84, 'instance')
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 32, 7, stride=2, padding=3)
            dims = [(32, 32, 1), (32, 64, 2), (64, 96, 2)]
            for i, (cin, cout, stride) in enumerate(dims, 1):
                setattr(self, f"layer{i}", nn.Sequential(Bottleneck(cin, cout, stride),
                                                         Bottleneck(cout, cout, 1)))
            self.conv2 = nn.Conv2d(96, 84, 1)

        def forward(self, x):
            x = F.relu(F.instance_norm(self.conv1(x)))
            return self.conv2(self.layer3(self.layer2(self.layer1(x))))

    class ResBlock(nn.Module):  # ifrnet.py: the last `side` channels get extra convs
        def __init__(self, ch, side):
            super().__init__()
            self.side = side
            self.conv1, self.conv2 = convrelu(ch, ch), convrelu(side, side)
            self.conv3, self.conv4 = convrelu(ch, ch), convrelu(side, side)
            self.conv5, self.prelu = nn.Conv2d(ch, ch, 3, 1, 1), nn.PReLU(ch)

        def forward(self, x):
            s = self.side
            out = self.conv1(x)
            out = self.conv3(torch.cat([out[:, :-s], self.conv2(out[:, -s:])], 1))
            out = self.conv5(torch.cat([out[:, :-s], self.conv4(out[:, -s:])], 1))
            return self.prelu(x + out)

    class PyramidEncoder(nn.Module):  # ifrnet.py Encoder: four stride-2 levels
        def __init__(self):
            super().__init__()
            prev = 3
            for i, ch in enumerate(CHANNELS, 1):
                setattr(self, f"pyramid{i}", nn.Sequential(convrelu(prev, ch, 3, 2, 1),
                                                           convrelu(ch, ch)))
                prev = ch

        def forward(self, x):
            feats = []
            for i in range(len(CHANNELS)):
                x = getattr(self, f"pyramid{i + 1}")(x)
                feats.append(x)
            return feats

    class Decoder(nn.Module):
        """ifrnet.py InitDecoder (``init``: f0, f1, t) / IntermediateDecoder and
        multi_flow.py MultiFlowDecoder (``out`` channels = 8 * num_flows)."""

        def __init__(self, cin, out, init=False):
            super().__init__()
            self.init = init
            wide = cin * (2 if init else 3)
            self.convblock = nn.Sequential(convrelu(wide + (1 if init else 4), wide),
                                           ResBlock(wide, SKIP),
                                           nn.ConvTranspose2d(wide, out, 4, 2, 1))

        def forward(self, *args):
            if self.init:
                f0, f1, embt = args
                t = embt.expand(len(f0), 1, *f0.shape[2:])
                return self.convblock(torch.cat([f0, f1, t], 1))
            ft, f0, f1, flow0, flow1 = args
            return self.convblock(torch.cat([ft, warp(f0, flow0), warp(f1, flow1),
                                             flow0, flow1], 1))

    class UpdateBlock(nn.Module):  # raft.py SmallUpdateBlock
        def __init__(self, cdim, scale_factor=None, hidden=76, flow_dim=20, corr_dim=64,
                     fc_dim=68):
            super().__init__()
            planes = corr_levels * (2 * corr_radius + 1) ** 2
            self.scale_factor = scale_factor
            self.convc1 = nn.Conv2d(2 * planes, corr_dim, 1)
            self.convf1 = nn.Conv2d(4, flow_dim * 2, 7, padding=3)
            self.convf2 = nn.Conv2d(flow_dim * 2, flow_dim, 3, padding=1)
            self.conv = nn.Conv2d(corr_dim + flow_dim, fc_dim, 3, padding=1)

            def two(cin, cout):
                return nn.Sequential(nn.Conv2d(cin, hidden, 3, padding=1), nn.LeakyReLU(0.1),
                                     nn.Conv2d(hidden, cout, 3, padding=1))
            self.gru = two(fc_dim + 4 + cdim, hidden)
            self.feat_head, self.flow_head = two(hidden, cdim), two(hidden, 4)

        def forward(self, net, flow, corr):
            lrelu = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
            sf = self.scale_factor
            if sf is not None:
                net = resize(net, 1 / sf)
            cor = lrelu(self.convc1(corr))
            flo = lrelu(self.convf2(lrelu(self.convf1(flow))))
            inp = lrelu(self.conv(torch.cat([cor, flo], 1)))
            out = self.gru(torch.cat([inp, flow, net], 1))
            d_net, d_flow = self.feat_head(out), self.flow_head(out)
            if sf is not None:
                d_net, d_flow = resize(d_net, sf), sf * resize(d_flow, sf)
            return d_net, d_flow

    def sample(img, coords):  # raft.py bilinear_sampler: pixel coords, zeros outside
        h, w = img.shape[-2:]
        x, y = coords.split([1, 1], -1)
        grid = torch.cat([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], -1)
        return F.grid_sample(img, grid, align_corners=True)

    class Correlation:  # raft.py BidirCorrBlock
        def __init__(self, fmap0, fmap1):
            b, d, h, w = fmap0.shape
            corr = (fmap0.view(b, d, h * w).transpose(1, 2) @ fmap1.view(b, d, h * w))
            corr = corr.view(b, h, w, 1, h, w) / torch.sqrt(torch.tensor(d).float())
            fwd = corr.reshape(b * h * w, 1, h, w)
            bwd = corr.permute(0, 4, 5, 3, 1, 2).reshape(b * h * w, 1, h, w)
            self.pyramids = [[fwd], [bwd]]
            for _ in range(corr_levels - 1):
                for p in self.pyramids:
                    p.append(F.avg_pool2d(p[-1], 2, stride=2))

        def __call__(self, coords0, coords1):
            r = corr_radius
            d = torch.linspace(-r, r, 2 * r + 1, device=coords0.device)
            # (dy, dx) stacked and added to (x, y): RAFT's window order
            delta = torch.stack(torch.meshgrid(d, d, indexing="ij"), -1).view(
                1, 2 * r + 1, 2 * r + 1, 2)
            outs = []
            for pyramid, coords in zip(self.pyramids, (coords0, coords1)):
                c = coords.permute(0, 2, 3, 1)
                b, h, w, _ = c.shape
                levels = [sample(corr, c.reshape(b * h * w, 1, 1, 2) / 2 ** i + delta)
                          .view(b, h, w, -1) for i, corr in enumerate(pyramid)]
                outs.append(torch.cat(levels, -1).permute(0, 3, 1, 2).contiguous().float())
            return outs

    class AMT(nn.Module):
        def __init__(self):
            super().__init__()
            self.feat_encoder = FeatEncoder()
            self.encoder = PyramidEncoder()
            c = CHANNELS
            self.decoder4 = Decoder(c[3], c[2] + 4, init=True)
            self.decoder3 = Decoder(c[2], c[1] + 4)
            self.decoder2 = Decoder(c[1], c[0] + 4)
            self.decoder1 = Decoder(c[0], 8 * num_flows)
            self.update4 = UpdateBlock(c[2])
            self.update3 = UpdateBlock(c[1], 2)
            self.update2 = UpdateBlock(c[0], 4)
            self.comb_block = nn.Sequential(nn.Conv2d(3 * num_flows, 6 * num_flows, 3, 1, 1),
                                            nn.PReLU(6 * num_flows),
                                            nn.Conv2d(6 * num_flows, 3, 3, 1, 1))

        def _refine(self, update, corr_fn, coord, flow0, flow1, ft, embt, down):
            if down != 1:  # the 1/8-resolution lookup of finer flows
                f0, f1 = (resize(f, 1 / down) / down for f in (flow0, flow1))
            else:
                f0, f1 = flow0, flow1
            t1, t0 = 1. / embt, 1. / (1. - embt)
            corr = torch.cat(corr_fn(coord + f1 * t1, coord + f0 * t0), 1)
            d_ft, d_flow = update(ft, torch.cat([f0, f1], 1), corr)
            d0, d1 = d_flow.chunk(2, 1)
            return flow0 + d0, flow1 + d1, ft + d_ft

        def forward(self, img0, img1, embt):
            """(B, 3, H, W) frames in [0, 1], H and W multiples of 16 -> the frame at
            ``embt`` (a (B or 1, 1, 1, 1) tensor), clamped to [0, 1]."""
            mean = torch.cat([img0, img1], 2).mean(1, keepdim=True).mean(
                2, keepdim=True).mean(3, keepdim=True)  # three means, as upstream rounds
            img0, img1 = img0 - mean, img1 - mean
            b, _, h, w = img0.shape
            ys, xs = torch.meshgrid(torch.arange(h // 8, device=img0.device),
                                    torch.arange(w // 8, device=img0.device), indexing="ij")
            coord = torch.stack([xs, ys]).float()[None].repeat(b, 1, 1, 1)
            fmap0, fmap1 = self.feat_encoder(torch.cat([img0, img1])).split(b)
            corr_fn = Correlation(fmap0, fmap1)
            f0, f1 = self.encoder(img0), self.encoder(img1)

            out = self.decoder4(f0[3], f1[3], embt)
            flow0, flow1, ft = out[:, :2], out[:, 2:4], out[:, 4:]
            flow0, flow1, ft = self._refine(self.update4, corr_fn, coord, flow0, flow1, ft,
                                            embt, 1)
            for dec, upd, lvl, down in ((self.decoder3, self.update3, 2, 2),
                                        (self.decoder2, self.update2, 1, 4)):
                out = dec(ft, f0[lvl], f1[lvl], flow0, flow1)
                flow0 = out[:, :2] + 2.0 * resize(flow0, 2.0)
                flow1 = out[:, 2:4] + 2.0 * resize(flow1, 2.0)
                flow0, flow1, ft = self._refine(upd, corr_fn, coord, flow0, flow1,
                                                out[:, 4:], embt, down)
            n = num_flows
            out = self.decoder1(ft, f0[0], f1[0], flow0, flow1)
            d0, d1, mask, res = out.split([2 * n, 2 * n, n, 3 * n], 1)
            flow0 = d0 + 2.0 * resize(flow0, 2.0).repeat(1, n, 1, 1)
            flow1 = d1 + 2.0 * resize(flow1, 2.0).repeat(1, n, 1, 1)
            mask = torch.sigmoid(mask)
            return self._combine(img0, img1, flow0, flow1, mask, res, mean).clamp(0, 1)

        def _combine(self, img0, img1, flow0, flow1, mask, res, mean):
            """multi_flow.py ``multi_flow_combine``: warp both frames by each flow pair,
            blend by its mask, add the residual and the mean, average + the comb conv."""
            b, _, h, w = flow0.shape
            n = num_flows
            rep = lambda t: t.repeat_interleave(n, 0)  # noqa: E731 - (b, ...) -> (b n, ...)
            warps = (mask.reshape(-1, 1, h, w) * warp(rep(img0), flow0.reshape(-1, 2, h, w))
                     + (1 - mask.reshape(-1, 1, h, w))
                     * warp(rep(img1), flow1.reshape(-1, 2, h, w))
                     + rep(mean) + res.reshape(-1, 3, h, w)).reshape(b, n, 3, h, w)
            return warps.mean(1) + self.comb_block(warps.view(b, -1, h, w))

    return AMT()


def load_amt(ckpt: dict):
    """AMT-S from ``amt-s.pth`` (``{"state_dict": ...}``; a bare state dict is accepted),
    loaded strictly, as upstream does."""
    model = build_amt()
    model.load_state_dict(ckpt.get("state_dict", ckpt))
    return model.eval()


def predict_inbetweens(model, frames: np.ndarray, device: str = "cpu", batch: int = 4
                       ) -> np.ndarray:
    """The uint8 frames AMT predicts between consecutive even frames of a (T, H, W, 3) uint8
    video (T >= 3), with upstream's padding and truncating cast. Pairs run ``batch`` at a
    time (upstream: one; every op is per sample)."""
    import torch
    import torch.nn.functional as F

    even = torch.from_numpy(np.ascontiguousarray(frames[::2])).permute(0, 3, 1, 2) / 255.0
    if len(even) < 2:
        raise ValueError(f"motion_smoothness needs at least 3 frames, the video has "
                         f"{len(frames)}")
    pads = pad_amounts(*even.shape[-2:], PAD_TO)
    even = F.pad(even, pads, mode="replicate")
    if min(even.shape[-2:]) < MIN_SIDE:
        raise ValueError(f"AMT's {LEVELS}-level correlation pyramid needs frames of at least "
                         f"{MIN_SIDE} px (after padding to {PAD_TO}), got "
                         f"{tuple(frames.shape[1:3])}")
    embt = torch.tensor(EMBT).float().view(1, 1, 1, 1).to(device)
    outs = []
    with torch.inference_mode():
        for i in range(0, len(even) - 1, batch):
            a = even[i:i + batch + 1].to(device)
            outs.append(model(a[:-1], a[1:], embt).float().cpu())
    pred = torch.cat(outs)
    left, right, top, bottom = pads
    pred = pred[..., top:pred.shape[-2] - bottom, left:pred.shape[-1] - right]
    return (pred * 255.0).permute(0, 2, 3, 1).numpy().clip(0, 255).astype(np.uint8)


__all__ = ["build_amt", "load_amt", "pad_amounts", "predict_inbetweens",
           "smoothness_from_predictions"]
