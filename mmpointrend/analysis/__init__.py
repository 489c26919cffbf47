"""What tools/analysis measures with, importable without path edits.

* :mod:`.measure`: timing (medians, peaks, alternating competitors), the
  machine line and the docs/benchmarks.md block writer;
* :mod:`.cases`: the benchmarked cases, built once for every script;
* :mod:`.cost`: multiply-adds and activations counted on the real modules
  by MMEngine's analyzers;
* :mod:`.accuracy_report`: tables and plots of the accuracy study.

The library marks the parts of a render with named profiling regions
(:func:`mmpointrend.models.utils.profiling.region`), which the profiles
read by name.
"""
