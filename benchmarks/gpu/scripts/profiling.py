"""Where the time goes, from two profiles of the same steps: what the GPU did (a torch profiler
trace of CUDA activity only, so that the host runs at its normal speed) and what the host did
(cProfile). Pure functions over what the profilers wrote."""

import pstats
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

# Chrome-trace categories of work on the device (torch.profiler's export_chrome_trace).
DEVICE_CATEGORIES = {"kernel": "kernels", "gpu_memcpy": "copies", "gpu_memset": "memsets"}

# cProfile's self time by where it is spent: (bucket, substrings of "file:function"), the first
# match wins. On a GPU the host waits for the device where it reads a result (a copy to the
# host, .item(), a synchronisation): that wait is counted under copies. Files are matched as
# cProfile names them: site-packages paths for Python, package-relative ones (spacy/tokens/doc.pyx)
# for compiled Cython.
BUCKETS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    (
        "host-device copies and waits",
        (
            "asnumpy",
            "'get' of 'cupy",
            "'item' of 'torch",
            "'tolist' of 'torch",
            "'cpu' of 'torch",
            "'to' of 'torch",
            "'copy_' of 'torch",
            "synchronize",
            "'numpy' of 'torch",
        ),
    ),  # fmt: skip
    (
        "tokenization and alignment",
        ("spacy_alignments", "spacy_transformers/align", "tokenization_utils", "tokenizers.", "Tokenizer' objects"),
    ),
    (
        "NER model and transitions",
        (
            "_parser_internals",
            "transition_parser",
            "parser_model",
            "precomputable_affine",
            "spacy/ml/tb_framework",
            "spacy/pipeline/ner",
        ),
    ),  # fmt: skip
    ("optimizer", ("thinc/optimizers", "torch/optim", "clip_grad")),
    (
        "transformer (torch)",
        ("/torch/", "torch._C", "method torch.", "/transformers/", "thinc/shims/pytorch", "spacy_transformers"),
    ),  # fmt: skip
    ("thinc layers and ops (the NER's on a CPU)", ("thinc/",)),
    ("spaCy (docs, batching, the training loop)", ("spacy/",)),
)
OTHER = "other"


def busy_union(intervals: Iterable[Tuple[float, float]]) -> float:
    """Length of the union of (start, end) intervals: time the device had any work."""
    total, end = 0.0, None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def device_activity(trace_events: Sequence[Dict], wall_us: float, steps: int) -> Dict:
    """From a trace's events (`ts`, `dur` in µs): the share of the wall time the device was busy
    (any kernel, copy or memset), and per kind its time and count, in all and per step."""
    work = [event for event in trace_events if event.get("cat") in DEVICE_CATEGORIES and "dur" in event]
    busy = busy_union((event["ts"], event["ts"] + event["dur"]) for event in work)
    kinds = {}
    for category, kind in DEVICE_CATEGORIES.items():
        mine = [event for event in work if event["cat"] == category]
        kinds[kind] = {
            "ms": sum(event["dur"] for event in mine) / 1000,
            "count": len(mine),
            "per_step": len(mine) / steps if steps else None,
        }
    copies = [event for event in work if event["cat"] == "gpu_memcpy"]
    for direction in ("HtoD", "DtoH", "DtoD"):
        mine = [event for event in copies if direction in event.get("name", "")]
        kinds[f"copies_{direction}"] = {"ms": sum(event["dur"] for event in mine) / 1000, "count": len(mine)}
    return {"busy_share": busy / wall_us if wall_us > 0 else None, "wall_ms": wall_us / 1000, **kinds}


def bucket_of(where: str) -> str:
    return next((name for name, parts in BUCKETS if any(part in where for part in parts)), OTHER)


def host_profile(stats: pstats.Stats, top: int = 20) -> Dict:
    """cProfile's self time by bucket (seconds and share of the total), and the `top` functions
    by self time and by cumulative time."""
    entries = []
    for (filename, line, function), (_, calls, self_s, cumulative_s, _) in stats.stats.items():
        where = f"{filename}:{function}" if filename != "~" else function
        entries.append({"where": f"{where} ({filename.rsplit('/', 1)[-1]}:{line})" if filename != "~" else where,
                        "bucket": bucket_of(where), "calls": calls, "self_s": self_s, "cumulative_s": cumulative_s})  # fmt: skip
    total = sum(entry["self_s"] for entry in entries)
    buckets: Dict[str, float] = {}
    for entry in entries:
        buckets[entry["bucket"]] = buckets.get(entry["bucket"], 0.0) + entry["self_s"]
    order = [name for name, _ in BUCKETS] + [OTHER]
    return {
        "total_s": total,
        "buckets": {
            name: {"s": buckets.get(name, 0.0), "share": share(buckets.get(name, 0.0), total)} for name in order
        },  # fmt: skip
        "top_self": sorted(entries, key=lambda entry: -entry["self_s"])[:top],
        "top_cumulative": sorted(entries, key=lambda entry: -entry["cumulative_s"])[:top],
    }


def share(part: float, whole: float) -> Optional[float]:
    return part / whole if whole else None


def window_rate(marks: List[Tuple[float, int]]) -> Dict:
    """From the (time, words seen) marks at the start and end of a window of steps: its seconds
    and words per second."""
    (start, words_start), (end, words_end) = marks
    seconds = end - start
    return {
        "seconds": seconds,
        "words": words_end - words_start,
        "words_per_s": share(words_end - words_start, seconds),
    }
