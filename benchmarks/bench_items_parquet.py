"""Benchmark (not a test): writing the items Parquet for 100,000 judged items.

Prints the time of judgeflow's path (the archive's summary and details Parquet + sidecar -> details
read by the task's reader -> items table -> Parquet bytes, as the results stage does) next to plain
pyarrow doing the same I/O (`read_table` of the same details file, `write_table` of the same
finished table), measured in the same run, and the peak memory of judgeflow's path. Target: ratio at most 3x.

    .venv/bin/python benchmarks/bench_items_parquet.py [--items 100000]
"""

from __future__ import annotations

import argparse
import io
import resource
import statistics
import time
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq

from judgeflow import items, nova_output
from judgeflow.stages import results


def details(count: int) -> tuple[dict[str, bytes], bytes]:
    """An archive's files as the judge writes them (summary, details Parquet), and the sidecar
    staging wrote."""
    labels = ["[[A>B]]", "[[B>A]]", "[[A=B]]"]
    table = pa.table({
        "prompt": [f"question {i}" for i in range(count)],
        "forward_output": [f"reasoning about item {i} ... {labels[i % 3]}" for i in range(count)],
        "backward_output": [f"the other order ... {labels[(i + 1) % 3]}" for i in range(count)],
    })
    sidecar = "".join(f'{{"_line": {i + 1}, "category": "cat{i % 7}", "id": "q{i}"}}\n' for i in range(count))
    details_file = io.BytesIO()
    pq.write_table(table, details_file)
    files = {"run/eval_results/results_1.json": b'{"results": {"all": {"a_scores": 1.0}}}',
             "run/eval_results/details/m/t/details_custom|llm_judge_judge|0_t.parquet": details_file.getvalue()}
    return files, sidecar.encode()


def judgeflow_path(files, sidecar) -> bytes:
    output = nova_output.parse_output(files, task="llm_judge")
    return results.parquet_bytes(items.items_table("jf-bench", output.details, sidecar, task="llm_judge"))


def best_of(repeat: int, function, *args) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows, sidecar = details(args.items)
    table = pq.read_table(io.BytesIO(judgeflow_path(rows, sidecar)))

    (details_file,) = [data for name, data in rows.items() if name.endswith(".parquet")]

    def plain_write() -> None:
        pq.read_table(io.BytesIO(details_file))
        pq.write_table(table, io.BytesIO())

    ours_best, ours_median = best_of(args.repeat, judgeflow_path, rows, sidecar)
    plain_best, plain_median = best_of(args.repeat, plain_write)
    tracemalloc.start()
    judgeflow_path(rows, sidecar)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"items: {args.items:,}  columns: {table.num_columns}  parquet size: {len(judgeflow_path(rows, sidecar)) / 1e6:.1f} MB")
    print(f"judgeflow items Parquet (details -> items -> Parquet): best {ours_best:.3f} s, median {ours_median:.3f} s")
    print(f"plain pyarrow read_table of the details + write_table: best {plain_best:.3f} s, median {plain_median:.3f} s")
    print(f"ratio (best/best): {ours_best / plain_best:.2f}x  (target <= 3x)")
    print(f"peak Python allocations in judgeflow's path: {peak / 1e6:.0f} MB; "
          f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          f"(includes the {args.items:,} input rows)")


if __name__ == "__main__":
    main()
