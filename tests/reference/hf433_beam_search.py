"""Test-only extract of transformers 4.33.0 beam search (VBench's pinned transformers), as
used by Tag2Text's ``text_decoder.generate(num_beams=3, max_length=30, min_length=10)``.

Source: PyPI transformers==4.33.0 (Apache-2.0), files
  transformers/generation/beam_search.py  BeamHypotheses, BeamSearchScorer.process /
                                          finalize (single beam group, no beam_indices)
  transformers/generation/utils.py        GenerationMixin.beam_search (the loop),
                                          _expand_inputs_for_generation (repeat_interleave)
  transformers/generation/logits_process.py  MinLengthLogitsProcessor
The model call is replaced by ``logits_fn(input_ids, model_kwargs)`` returning the last
position's logits. Used only as the oracle of tests; not part of the package.
"""

from collections import UserDict

import torch
from torch import nn


class BeamHypotheses:
    def __init__(self, num_beams, length_penalty, early_stopping, max_length=None):
        self.length_penalty = length_penalty
        self.early_stopping = early_stopping
        self.max_length = max_length
        self.num_beams = num_beams
        self.beams = []
        self.worst_score = 1e9

    def __len__(self):
        return len(self.beams)

    def add(self, hyp, sum_logprobs, beam_indices=None):
        score = sum_logprobs / (hyp.shape[-1] ** self.length_penalty)
        if len(self) < self.num_beams or score > self.worst_score:
            self.beams.append((score, hyp, beam_indices))
            if len(self) > self.num_beams:
                sorted_next_scores = sorted([(s, idx) for idx, (s, _, _) in enumerate(self.beams)])
                del self.beams[sorted_next_scores[0][1]]
                self.worst_score = sorted_next_scores[1][0]
            else:
                self.worst_score = min(score, self.worst_score)

    def is_done(self, best_sum_logprobs, cur_len):
        if len(self) < self.num_beams:
            return False
        if self.early_stopping is True:
            return True
        elif self.early_stopping is False:
            highest_attainable_score = best_sum_logprobs / cur_len ** self.length_penalty
            ret = self.worst_score >= highest_attainable_score
            return ret
        raise NotImplementedError


class BeamSearchScorer:
    def __init__(self, batch_size, num_beams, device, length_penalty=1.0, do_early_stopping=False,
                 num_beam_hyps_to_keep=1, max_length=None):
        self.num_beams = num_beams
        self.device = device
        self.length_penalty = length_penalty
        self.do_early_stopping = do_early_stopping
        self.num_beam_hyps_to_keep = num_beam_hyps_to_keep
        self.group_size = num_beams
        self._beam_hyps = [BeamHypotheses(num_beams=self.group_size, length_penalty=length_penalty,
                                          early_stopping=do_early_stopping, max_length=max_length)
                           for _ in range(batch_size)]
        self._done = torch.tensor([False for _ in range(batch_size)], dtype=torch.bool,
                                  device=self.device)

    @property
    def is_done(self):
        return self._done.all()

    def process(self, input_ids, next_scores, next_tokens, next_indices, pad_token_id=None,
                eos_token_id=None):
        cur_len = input_ids.shape[-1] + 1
        batch_size = len(self._beam_hyps)
        device = input_ids.device
        next_beam_scores = torch.zeros((batch_size, self.group_size), dtype=next_scores.dtype,
                                       device=device)
        next_beam_tokens = torch.zeros((batch_size, self.group_size), dtype=next_tokens.dtype,
                                       device=device)
        next_beam_indices = torch.zeros((batch_size, self.group_size), dtype=next_indices.dtype,
                                        device=device)
        if isinstance(eos_token_id, int):
            eos_token_id = [eos_token_id]
        for batch_idx in range(batch_size):
            batch_group_idx = batch_idx
            if self._done[batch_group_idx]:
                next_beam_scores[batch_idx, :] = 0
                next_beam_tokens[batch_idx, :] = pad_token_id
                next_beam_indices[batch_idx, :] = 0
                continue
            beam_idx = 0
            for beam_token_rank, (next_token, next_score, next_index) in enumerate(
                    zip(next_tokens[batch_idx], next_scores[batch_idx], next_indices[batch_idx])):
                batch_beam_idx = batch_idx * self.group_size + next_index
                if (eos_token_id is not None) and (next_token.item() in eos_token_id):
                    is_beam_token_worse_than_top_num_beams = beam_token_rank >= self.group_size
                    if is_beam_token_worse_than_top_num_beams:
                        continue
                    self._beam_hyps[batch_group_idx].add(input_ids[batch_beam_idx].clone(),
                                                         next_score.item())
                else:
                    next_beam_scores[batch_idx, beam_idx] = next_score
                    next_beam_tokens[batch_idx, beam_idx] = next_token
                    next_beam_indices[batch_idx, beam_idx] = batch_beam_idx
                    beam_idx += 1
                if beam_idx == self.group_size:
                    break
            self._done[batch_group_idx] = self._done[batch_group_idx] or \
                self._beam_hyps[batch_group_idx].is_done(next_scores[batch_idx].max().item(),
                                                         cur_len)
        return UserDict({"next_beam_scores": next_beam_scores.view(-1),
                         "next_beam_tokens": next_beam_tokens.view(-1),
                         "next_beam_indices": next_beam_indices.view(-1)})

    def finalize(self, input_ids, final_beam_scores, final_beam_tokens, final_beam_indices,
                 max_length, pad_token_id=None, eos_token_id=None):
        batch_size = len(self._beam_hyps)
        if isinstance(eos_token_id, int):
            eos_token_id = [eos_token_id]
        for batch_group_idx, beam_hyp in enumerate(self._beam_hyps):
            if self._done[batch_group_idx]:
                continue
            for index_per_group in range(self.group_size):
                batch_beam_idx = batch_group_idx * self.group_size + index_per_group
                final_score = final_beam_scores[batch_beam_idx].item()
                final_tokens = input_ids[batch_beam_idx]
                beam_hyp.add(final_tokens, final_score)
        sent_lengths = input_ids.new(batch_size * self.num_beam_hyps_to_keep)
        best = []
        for i in range(batch_size):
            candidate_beams = [beam for beam in self._beam_hyps[i].beams]
            sorted_hyps = sorted(candidate_beams, key=lambda x: x[0])
            for j in range(self.num_beam_hyps_to_keep):
                best_hyp_tuple = sorted_hyps.pop()
                best_hyp = best_hyp_tuple[1]
                sent_lengths[self.num_beam_hyps_to_keep * i + j] = len(best_hyp)
                best.append(best_hyp)
        sent_lengths_max = sent_lengths.max().item() + 1
        sent_max_len = min(sent_lengths_max, max_length) if max_length is not None \
            else sent_lengths_max
        decoded = input_ids.new(batch_size * self.num_beam_hyps_to_keep, sent_max_len)
        if sent_lengths.min().item() != sent_lengths.max().item():
            decoded.fill_(pad_token_id)
        for i, hypo in enumerate(best):
            decoded[i, : sent_lengths[i]] = hypo
            if sent_lengths[i] < sent_max_len:
                decoded[i, sent_lengths[i]] = eos_token_id[0]
        return UserDict({"sequences": decoded})


def expand_inputs_for_generation(expand_size, input_ids, **model_kwargs):
    for key in model_kwargs:
        if model_kwargs[key] is not None and isinstance(model_kwargs[key], torch.Tensor):
            model_kwargs[key] = model_kwargs[key].repeat_interleave(expand_size, dim=0)
    return input_ids.repeat_interleave(expand_size, dim=0), model_kwargs


def generate_beam(logits_fn, input_ids, num_beams, max_length, min_length, eos_token_id,
                  pad_token_id, **model_kwargs):
    """generate(num_beams>1, do_sample=False) for a decoder-only model."""
    batch_size = input_ids.shape[0]
    beam_scorer = BeamSearchScorer(batch_size=batch_size, num_beams=num_beams,
                                   device=input_ids.device, length_penalty=1.0,
                                   do_early_stopping=False, num_beam_hyps_to_keep=1,
                                   max_length=max_length)
    input_ids, model_kwargs = expand_inputs_for_generation(num_beams, input_ids, **model_kwargs)
    batch_beam_size, cur_len = input_ids.shape
    beam_scores = torch.zeros((batch_size, num_beams), dtype=torch.float, device=input_ids.device)
    beam_scores[:, 1:] = -1e9
    beam_scores = beam_scores.view((batch_size * num_beams,))
    while True:
        next_token_logits = logits_fn(input_ids, model_kwargs)
        next_token_scores = nn.functional.log_softmax(next_token_logits, dim=-1)
        if input_ids.shape[-1] < min_length:  # MinLengthLogitsProcessor
            next_token_scores[:, eos_token_id] = -float("inf")
        next_token_scores = next_token_scores + beam_scores[:, None].expand_as(next_token_scores)
        vocab_size = next_token_scores.shape[-1]
        next_token_scores = next_token_scores.view(batch_size, num_beams * vocab_size)
        next_token_scores, next_tokens = torch.topk(next_token_scores, max(2, 1 + 1) * num_beams,
                                                    dim=1, largest=True, sorted=True)
        next_indices = torch.div(next_tokens, vocab_size, rounding_mode="floor")
        next_tokens = next_tokens % vocab_size
        beam_outputs = beam_scorer.process(input_ids, next_token_scores, next_tokens,
                                           next_indices, pad_token_id=pad_token_id,
                                           eos_token_id=eos_token_id)
        beam_scores = beam_outputs["next_beam_scores"]
        beam_next_tokens = beam_outputs["next_beam_tokens"]
        beam_idx = beam_outputs["next_beam_indices"]
        input_ids = torch.cat([input_ids[beam_idx, :], beam_next_tokens.unsqueeze(-1)], dim=-1)
        cur_len = cur_len + 1
        if beam_scorer.is_done or input_ids.shape[-1] >= max_length:  # MaxLengthCriteria
            break
    return beam_scorer.finalize(input_ids, beam_scores, next_tokens, next_indices,
                                pad_token_id=pad_token_id, eos_token_id=eos_token_id,
                                max_length=max_length)["sequences"]
