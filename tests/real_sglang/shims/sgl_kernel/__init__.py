"""Stand-in for ``sgl_kernel`` on a CPU-only test machine (not SGLang's code; no PyPI wheel has its CPU ops).

SGLang's CPU engine imports ``assign_req_to_token_pool_cpu`` at module load and calls it for every batch; it is
written here in plain torch. Any other name imports fine but raises when called, so a code path that needs a
real kernel fails loudly instead of computing something else.
"""

from __future__ import annotations

import torch


def assign_req_to_token_pool_cpu(
    req_pool_indices: torch.Tensor,
    req_to_token: torch.Tensor,
    start_offset: torch.Tensor,
    end_offset: torch.Tensor,
    out_cache_loc: torch.Tensor,
    pool_len: int,
) -> None:
    """Row ``req_pool_indices[i]`` of ``req_to_token`` gets, at ``start_offset[i]:end_offset[i]``, the next
    ``end - start`` entries of ``out_cache_loc`` (requests laid out one after another)."""
    del pool_len  # the row length is req_to_token's own
    consumed = 0
    for row, start, end in zip(req_pool_indices.tolist(), start_offset.tolist(), end_offset.tolist(), strict=True):
        length = end - start
        req_to_token[row, start:end] = out_cache_loc[consumed : consumed + length].to(req_to_token.dtype)
        consumed += length


def _missing(name: str):
    def kernel(*args, **kwargs):
        raise NotImplementedError(f"sgl_kernel.{name} has no CPU stand-in in the real-SGLang test tier")

    kernel.__name__ = name
    return kernel


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    return _missing(name)
