"""One indexing run in its own process: `python -m sceneline.pipelines.server.worker OUT ARGV...`.

Runs the batch index chain (pipelines/batch_index.py) over one upload and writes its outcome
as JSON to OUT. A process per run keeps a crashing decoder or a model's memory out of the
server; the store is reached through the server (it owns the index folder and serves it).
"""

from __future__ import annotations

import json
import sys
import traceback


def main(out_path: str, argv: list[str]) -> int:
    from sceneline.pipelines import batch_index
    from sceneline.transforms.store.scene_store import close_shared_clients

    try:
        run = batch_index.run(argv)
        outcomes = [o.model_dump(mode="json") for o in run.outcomes]
        result = {"outcomes": outcomes}
    except Exception as exc:  # reported as the task's failure reason
        result = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc(limit=5)}
    finally:
        close_shared_clients()
    with open(out_path, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
