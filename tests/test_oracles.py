"""Layer 1: the portable top-k oracle used by the parity tests can fail."""

import pytest
import torch
from _oracles import assert_only_tie_flips, tied_cells


def _case():
    scores = torch.tensor([[[0.9, 0.5, 0.50000001, 0.1]]])  # (1, 1, 4)
    ours = torch.tensor([[[[1.0, 2.0, 3.0, 4.0]]]])  # (1, 1, 1, 4)
    return scores, ours


def test_tied_cells_are_the_ones_at_the_kth_score():
    scores, _ = _case()
    assert tied_cells(scores, 2).tolist() == [[[False, True, True, False]]]


def test_identical_and_tie_flipped_maps_pass():
    scores, ours = _case()
    flipped = assert_only_tie_flips(ours, ours.clone(), scores, 2)
    assert flipped.tolist() == [False]
    ref = ours.clone()
    ref[..., 2] += 0.5  # the reference refined the other tied cell
    assert assert_only_tie_flips(ours, ref, scores, 2).tolist() == [True]


@pytest.mark.parametrize('cell', [0, 3])
def test_difference_at_a_decided_cell_fails(cell):
    scores, ours = _case()
    ref = ours.clone()
    ref[..., cell] += 1e-3
    with pytest.raises(AssertionError, match='selection was decided'):
        assert_only_tie_flips(ours, ref, scores, 2)
