"""Molecular conformers as a diffusion domain (chapter 11): RDKit makes the data, the book's DDPM learns it.

A conformer of a small flexible molecule is, to a good approximation, its rigid parts (bond lengths and
angles, which barely vary) and the angles of its rotatable bonds, the **torsions** (Jing et al. 2022,
"Torsional Diffusion for Molecular Conformer Generation"). Torsions are angles, so a molecule with m of
them lives on a torus; Jing et al. diffuse on the torus itself. Here each torsion θ is embedded as the
point (cos θ, sin θ) on a circle, the DDPM of chapter 02 diffuses the 2m numbers in the plane, and
atan2 maps its samples back to angles; the rigid parts come from one RDKit conformer, whose torsions are
set to the sampled ones. Torsions do not change when the molecule is moved or rotated, so the model is
invariant to both by construction, as a conformer model must be.

The data and the yardstick are RDKit's: ETKDG embedding (Riniker & Landrum 2015) and MMFF94 optimisation
make the training and the held-out conformers, and a generated set is scored by its coverage and
matching (the RMSD of the best alignment, heavy atoms only) against the held-out set, as GeoDiff (Xu et al.
2022) and torsional diffusion score theirs, and by its MMFF energies.
"""
from __future__ import annotations

import torch

# Small flexible molecules, written as SMILES: three to five rotatable bonds each.
MOLECULES = {"hexane": "CCCCCC", "heptane": "CCCCCCC", "dimethoxyethane": "COCCOC",
             "diethoxyethane": "CCOCCOCC"}


def _rdkit():
    try:
        from rdkit import Chem
        from rdkit.Chem import AllChem, rdMolAlign, rdMolTransforms
        from rdkit.Chem.Lipinski import RotatableBondSmarts
    except ImportError as e:  # installed by requirements.txt; say so rather than fail deep
        raise ImportError("the molecules need RDKit: pip install -r requirements.txt (it pins rdkit)") from e
    return Chem, AllChem, rdMolAlign, rdMolTransforms, RotatableBondSmarts


def conformers(smiles: str, num: int, seed: int = 0):
    """An RDKit molecule (with hydrogens) holding `num` conformers: ETKDG v3 embeddings from `seed`, each
    optimised with MMFF94. A SMILES RDKit cannot read is refused with a ValueError."""
    Chem, AllChem, _, _, _ = _rdkit()
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot read the SMILES {smiles!r}")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if len(AllChem.EmbedMultipleConfs(mol, num, params)) != num:
        raise ValueError(f"RDKit embedded fewer than {num} conformers of {smiles!r}")
    AllChem.MMFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=1000)
    return mol


def torsion_atoms(mol) -> list[tuple[int, int, int, int]]:
    """(i, j, k, l) heavy atoms for each rotatable bond j–k (RDKit's Lipinski definition, which leaves out
    bonds to terminal atoms and methyl-like rotors): i the lowest-index heavy neighbour of j other than k,
    l that of k other than j."""
    Chem, _, _, _, rotatable = _rdkit()
    heavy = Chem.RemoveHs(mol)  # heavy atoms keep their indices, ahead of the hydrogens
    quads = []
    for j, k in heavy.GetSubstructMatches(rotatable):
        i = min(a.GetIdx() for a in heavy.GetAtomWithIdx(j).GetNeighbors() if a.GetIdx() != k)
        l = min(a.GetIdx() for a in heavy.GetAtomWithIdx(k).GetNeighbors() if a.GetIdx() != j)
        quads.append((i, j, k, l))
    return quads


def torsions(mol) -> torch.Tensor:
    """(num_conformers, m) torsion angles in radians, in (−π, π]."""
    _, _, _, transforms, _ = _rdkit()
    quads = torsion_atoms(mol)
    return torch.tensor([[transforms.GetDihedralRad(c, *q) for q in quads] for c in mol.GetConformers()],
                        dtype=torch.float32)


def with_torsions(mol, angles: torch.Tensor, template: int = 0):
    """A copy of `mol` whose conformers are conformer `template` with its torsions set to each row of
    `angles` (N, m): the rigid parts (bond lengths and angles) are the template's."""
    Chem, _, _, transforms, _ = _rdkit()
    quads = torsion_atoms(mol)
    if angles.ndim != 2 or angles.shape[1] != len(quads):
        raise ValueError(f"angles must be (N, {len(quads)}), one per rotatable bond, got {tuple(angles.shape)}")
    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    base = mol.GetConformer(mol.GetConformers()[template].GetId())
    for row in angles.tolist():
        conf = Chem.Conformer(base)
        for q, angle in zip(quads, row):
            transforms.SetDihedralRad(conf, *q, angle)
        out.AddConformer(conf, assignId=True)
    return out


def to_circle(angles: torch.Tensor) -> torch.Tensor:
    """(N, m) angles → (N, 2m) points: cos θ1, sin θ1, cos θ2, sin θ2, …"""
    return torch.stack([angles.cos(), angles.sin()], dim=-1).flatten(1)


def from_circle(points: torch.Tensor) -> torch.Tensor:
    """(N, 2m) points → (N, m) angles, atan2(sin, cos): the nearest point of the torus, whatever the radius."""
    pairs = points.view(len(points), -1, 2)
    return torch.atan2(pairs[..., 1], pairs[..., 0])


def rmsd_matrix(generated, reference) -> torch.Tensor:
    """(G, R) heavy-atom RMSD in Å of the best alignment (symmetry-aware, RDKit's GetBestRMS) between each
    conformer of `generated` and each of `reference`, two copies of one molecule."""
    Chem, _, align, _, _ = _rdkit()
    gen, ref = Chem.RemoveHs(generated), Chem.RemoveHs(reference)
    return torch.tensor([[align.GetBestRMS(gen, ref, g.GetId(), r.GetId()) for r in ref.GetConformers()]
                         for g in gen.GetConformers()], dtype=torch.float64)


def coverage_matching(rmsd: torch.Tensor, threshold: float = 0.5) -> dict:
    """From a (generated, reference) RMSD matrix: coverage (the share of reference conformers with a
    generated one within `threshold` Å) and matching (the mean over reference conformers of the RMSD to
    the nearest generated one), the recall side; and the same from the generated side (precision)."""
    return {"coverage_recall": float((rmsd.min(0).values <= threshold).double().mean()),
            "matching_recall": float(rmsd.min(0).values.mean()),
            "coverage_precision": float((rmsd.min(1).values <= threshold).double().mean()),
            "matching_precision": float(rmsd.min(1).values.mean()), "threshold": threshold}


def mmff_energies(mol) -> torch.Tensor:
    """The MMFF94 energy (kcal/mol) of each conformer as it is, without optimising it."""
    _, AllChem, _, _, _ = _rdkit()
    props = AllChem.MMFFGetMoleculeProperties(mol)
    return torch.tensor([AllChem.MMFFGetMoleculeForceField(mol, props, confId=c.GetId()).CalcEnergy()
                         for c in mol.GetConformers()], dtype=torch.float64)

