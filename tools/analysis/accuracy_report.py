"""Tables and plots of the accuracy study.

The code is :mod:`mmpointrend.analysis.accuracy_report`.

Example:
    python tools/analysis/accuracy_report.py RESULTS_JSON
"""

from mmpointrend.analysis.accuracy_report import main

if __name__ == '__main__':
    main()
