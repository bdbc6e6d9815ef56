"""A character-level encoder for short texts such as names (Kim 2014; Zhang, Zhao & LeCun 2015).

:class:`CharCNN` embeds each character, runs a few 1-D convolutions over the sequence (each sees
3 neighbouring characters, so stacked layers see n-grams such as "sen", "ović", "aa"), and keeps
the strongest response of each channel over the positions that hold characters (max-pooling that
ignores padding). The result is one vector per text: an embedding for ProtoNet, just as
:class:`~kdmeta_lib.models.Conv4` is for images. Taught in notebook 04b.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .data.text_tasks import PAD, VOCAB_SIZE
from .support.validation import check_integer


class CharCNN(nn.Module):
    """Character embedding → ``n_layers`` × (conv 1-D, kernel 3 → ReLU) → masked max over time.

    Args:
        width: channels of every convolution = size of the output embedding.
        embedding_dim: size of each character's learnt vector.
        n_layers: number of convolutions (the receptive field is ``2·n_layers + 1`` characters).
        vocab_size: number of character codes (see :mod:`~kdmeta_lib.text_tasks`).

    Shapes:
        ``[B, L]`` int64 character codes (``PAD`` = 0 after the text) → ``[B, width]``.
    """

    def __init__(self, width: int = 128, embedding_dim: int = 32, n_layers: int = 3,
                 vocab_size: int = VOCAB_SIZE):
        super().__init__()
        for name, value in (("width", width), ("embedding_dim", embedding_dim),
                            ("n_layers", n_layers)):
            check_integer(name, value)
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        layers: list[nn.Module] = []
        for index in range(n_layers):
            layers += [nn.Conv1d(embedding_dim if index == 0 else width, width, 3, padding=1),
                       nn.ReLU()]
        self.convolutions = nn.Sequential(*layers)

    def forward(self, codes: Tensor) -> Tensor:
        is_char = (codes != PAD).unsqueeze(1)                     # [B, 1, L]
        x = self.embedding(codes).transpose(1, 2)                 # [B, embedding_dim, L]
        x = self.convolutions(x)                                  # [B, width, L]
        # Padding must never win the max: give its positions the lowest possible value.
        x = x.masked_fill(~is_char, torch.finfo(x.dtype).min)
        return x.amax(dim=2)                                      # [B, width]
