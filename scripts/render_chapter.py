"""Execute a chapter and save every figure it draws as PNG, with each cell's time, for reading it as a reader.

    .venv/bin/python scripts/render_chapter.py chapters/01_forward_process.py OUT_DIR

Prints each cell's wall time and its text output (truncated); figures go to OUT_DIR/cellNN_K.png.
"""
import base64
import sys
import time
from pathlib import Path

import jupytext
import nbclient

src, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
nb = jupytext.read(src)
client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(src.parent)}})
start = time.time()
with client.setup_kernel():
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        t0 = time.time()
        client.execute_cell(cell, i)
        print(f"--- cell {i} ({time.time() - t0:.1f} s)")
        for k, o in enumerate(cell.get("outputs", [])):
            if o.get("output_type") == "stream":
                print(o["text"][-1500:])
            elif o.get("output_type") in ("execute_result", "display_data"):
                data = o.get("data", {})
                if "image/png" in data:
                    p = out / f"cell{i:02d}_{k}.png"
                    p.write_bytes(base64.b64decode(data["image/png"]))
                    print(f"[figure {p}]")
                elif "text/plain" in data:
                    print(data["text/plain"][-1500:])
            elif o.get("output_type") == "error":
                print("ERROR", o["ename"], o["evalue"])
print(f"=== total {time.time() - start:.1f} s")
