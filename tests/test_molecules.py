"""Molecular conformers (diffusion_lite.molecules): torsions read and set, the circle embedding, the scores."""
import math

import pytest
import torch

from diffusion_lite import molecules as mol


@pytest.fixture(scope="module")
def hexane():
    return mol.conformers(mol.MOLECULES["hexane"], 6, seed=0)


def test_hexane_has_three_torsions_and_they_can_be_set_and_read_back(hexane):
    assert [q[1:3] for q in mol.torsion_atoms(hexane)] == [(1, 2), (2, 3), (3, 4)]  # the inner C–C bonds
    angles = mol.torsions(hexane)
    assert angles.shape == (6, 3) and float(angles.abs().max()) <= math.pi
    wanted = torch.tensor([[math.pi, math.pi / 3, -math.pi / 3], [0.5, -2.0, 3.0]])
    moved = mol.with_torsions(hexane, wanted)
    assert moved.GetNumConformers() == 2 and hexane.GetNumConformers() == 6  # a copy
    assert torch.allclose(mol.torsions(moved).cos(), wanted.cos(), atol=1e-4)
    assert torch.allclose(mol.torsions(moved).sin(), wanted.sin(), atol=1e-4)
    with pytest.raises(ValueError, match=r"angles must be \(N, 3\), one per rotatable bond"):
        mol.with_torsions(hexane, torch.zeros(2, 4))


def test_the_circle_embedding_round_trips_whatever_the_radius():
    angles = (torch.rand(5, 4) * 2 - 1) * math.pi
    points = mol.to_circle(angles)
    assert points.shape == (5, 8) and torch.allclose(points[:, 0], angles[:, 0].cos())
    assert torch.allclose(mol.from_circle(points), angles, atol=1e-5)
    assert torch.allclose(mol.from_circle(3.7 * points), angles, atol=1e-5)


def test_a_set_covers_itself_at_zero_rmsd_and_random_torsions_score_worse(hexane):
    rmsd = mol.rmsd_matrix(hexane, hexane)
    assert rmsd.shape == (6, 6) and float(rmsd.diagonal().max()) < 1e-3
    scores = mol.coverage_matching(rmsd)
    assert scores["coverage_recall"] == scores["coverage_precision"] == 1 and scores["matching_recall"] < 1e-3
    far = mol.with_torsions(hexane, torch.full((6, 3), 1.9))  # no MMFF minimum has all three torsions there
    assert mol.coverage_matching(mol.rmsd_matrix(far, hexane))["matching_recall"] > 0.2
    assert float(mol.mmff_energies(far).median()) > float(mol.mmff_energies(hexane).median())


def test_a_smiles_rdkit_cannot_read_is_refused():
    with pytest.raises(ValueError, match="RDKit cannot read the SMILES 'C1CC'"):
        mol.conformers("C1CC", 2)
