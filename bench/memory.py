"""Sampling the resident memory of a process tree while a benchmark runs."""
from __future__ import annotations

import threading

import psutil


class RssSampler:
    """Samples a set of process trees every `interval` seconds in a thread; keeps the peaks."""

    def __init__(self, pids_fn, interval: float = 0.5) -> None:
        self.pids_fn = pids_fn
        self.interval = interval
        self.peak_process_mb = 0.0
        self.peak_total_mb = 0.0
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree_rss(self) -> list[float]:
        """RSS in MB of every process in the trees."""
        sizes = []
        for pid in self.pids_fn():
            try:
                root = psutil.Process(pid)
                for proc in [root, *root.children(recursive=True)]:
                    sizes.append(proc.memory_info().rss / 1e6)
            except psutil.Error:
                continue
        return sizes

    def _run(self) -> None:
        """Sample until stopped."""
        while not self._stop.wait(self.interval):
            sizes = self._tree_rss()
            if sizes:
                self.peak_process_mb = max(self.peak_process_mb, max(sizes))
                self.peak_total_mb = max(self.peak_total_mb, sum(sizes))
                self.samples.append(sum(sizes))

    def trend(self) -> list[float]:
        """Total RSS (MB) at 10%, 50% and 90% of the run: flat memory keeps these close."""
        if not self.samples:
            return []
        picks = (0.1, 0.5, 0.9)
        return [round(self.samples[min(len(self.samples) - 1, int(p * len(self.samples)))], 1) for p in picks]

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
