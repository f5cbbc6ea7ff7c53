"""Repository contracts from BOOK.md: pinned environment files agree, CI runs the README's test command,
chapters are paired percent scripts, and the package's layers import only downwards."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"schedules": 1, "process": 1, "samplers": 1, "embeddings": 2, "mlp": 2, "attention": 2, "unet": 2,
          "vae": 2, "text": 2, "ddpm": 3, "guidance": 3, "pipeline": 3, "editing": 3, "flow": 3, "molecules": 4, "datasets": 4, "training": 4,
          "metrics": 4, "checkpoints": 4, "generation": 4, "precision": 4, "plotting": 4, "widgets": 4, "__main__": 4, "__init__": 4}


def pins(lines):
    return {m.group(1).lower(): m.group(2) for line in lines if (m := re.match(r"\s*(?:- )?([A-Za-z0-9_.\-]+)==(\S+)", line))}


def test_requirements_and_environment_list_the_same_pins():
    req = pins((ROOT / "requirements.txt").read_text().splitlines())
    env = pins((ROOT / "environment.yml").read_text().splitlines())
    assert req == env
    assert req["torch"] == "2.13.0"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)


def test_chapters_are_percent_scripts_with_a_python_kernel():
    chapters = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py"))
    assert len(chapters) >= 3
    for path in chapters:
        text = path.read_text()
        assert text.startswith("# ---\n# jupyter:") and "name: python3" in text.split("# ---")[1], path.name
        assert "# %% [markdown]" in text, path.name


def test_package_modules_import_only_from_their_layer_or_below():
    for path in (ROOT / "diffusion_lite").glob("*.py"):
        layer = LAYERS[path.stem]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                imported = node.module.split(".")[0]
                assert LAYERS[imported] <= layer, f"{path.name} (layer {layer}) imports {imported}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.startswith(("chapters", "checks")) for n in names), path.name
