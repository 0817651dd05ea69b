"""Exception detection-to-delivery latency (issue 6).

    .venv/bin/python -m bench.exceptions.detection_latency

See bench/README.md for the method and bench/RESULTS.md for the figures."""
