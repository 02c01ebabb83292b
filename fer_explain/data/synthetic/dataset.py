"""A torch Dataset of synthetic faces, rendered on demand (no files)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from fer_explain.data.synthetic.config import SyntheticFaceConfig
from fer_explain.data.synthetic.generate import SyntheticBatch, dilate_mask, generate


class SyntheticFaceDataset(Dataset):
    """Synthetic faces as ``(image, label)`` pairs, rendered in chunks the first time they are asked for.

    ``image`` is a float tensor in [0, 1] of shape ``(C, H, W)``, ``label`` an int (the observed,
    possibly noisy label, an index into ``config.label_space``). With ``return_landmarks`` and/or
    ``return_evidence`` each item also carries, in that order, the ``(68, 2)`` float landmarks (pixel
    coordinates) and the ``(H, W)`` bool evidence mask (dilated by ``evidence_dilate`` pixels).

    Rendering happens ``chunk_size`` faces at a time and rendered chunks are kept (at most
    ``max_cached_chunks`` of them, least recently used dropped first; None keeps all). Face ``i`` is
    the same whatever the chunking, so workers of a DataLoader may render chunks independently.

    Args:
        config: the set to serve (default: ``SyntheticFaceConfig()``, 2,100 faces 48x48 grey).
        transform: optional callable applied to the image tensor.
        **overrides: config fields to change, e.g. ``SyntheticFaceDataset(n=700, size=64)``.
    """

    def __init__(
        self,
        config: SyntheticFaceConfig | None = None,
        *,
        return_landmarks: bool = False,
        return_evidence: bool = False,
        evidence_dilate: int = 0,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        chunk_size: int = 256,
        max_cached_chunks: int | None = None,
        **overrides: object,
    ):
        cfg = config or SyntheticFaceConfig()
        self.config = cfg.replace(**overrides) if overrides else cfg
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.return_landmarks = return_landmarks
        self.return_evidence = return_evidence
        if evidence_dilate < 0:
            raise ValueError(f"evidence_dilate is a radius in pixels (>= 0), got {evidence_dilate}")
        self.evidence_dilate = int(evidence_dilate)
        self.transform = transform
        self.chunk_size = int(chunk_size)
        self.max_cached_chunks = max_cached_chunks
        self._chunks: OrderedDict[int, SyntheticBatch] = OrderedDict()

    @property
    def classes(self) -> tuple[str, ...]:
        return self.config.label_space.classes

    def __len__(self) -> int:
        return self.config.n

    def _chunk(self, c: int) -> SyntheticBatch:
        got = self._chunks.get(c)
        if got is not None:
            self._chunks.move_to_end(c)
            return got
        start = c * self.chunk_size
        got = generate(self.config, start, min(start + self.chunk_size, self.config.n))
        self._chunks[c] = got
        if self.max_cached_chunks is not None:
            while len(self._chunks) > max(1, self.max_cached_chunks):
                self._chunks.popitem(last=False)
        return got

    def sample(self, index: int) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
        """Face ``index`` as numpy arrays: (uint8 image, label, landmarks, evidence)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a synthetic set of {len(self)} faces")
        index %= len(self)
        b = self._chunk(index // self.chunk_size)
        j = index % self.chunk_size
        return b.images[j], int(b.labels[j]), b.landmarks[j], b.evidence[j]

    def __getitem__(self, index: int):  # type: ignore[override]
        img, label, lm, ev = self.sample(int(index))
        x = torch.from_numpy(np.ascontiguousarray(img)).float().div_(255.0)
        x = x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1).contiguous()
        if self.transform is not None:
            x = self.transform(x)
        item: list[object] = [x, label]
        if self.return_landmarks:
            item.append(torch.from_numpy(lm.copy()))
        if self.return_evidence:
            item.append(torch.from_numpy(dilate_mask(ev, self.evidence_dilate)))
        return tuple(item)

    def materialize(self) -> SyntheticBatch:
        """Every face at once as a :class:`SyntheticBatch` (renders what is not cached yet)."""
        return generate(self.config)
