"""Parses Prometheus text from stdin with prometheus_client's own parser (the
reference implementation's) and prints the families as JSON, so the e2e tests
check /metrics with a real parser: {name: {type, samples: [{name, labels, value}]}}.
A malformed exposition makes the parser raise, and this script exit non-zero."""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = {
        "type": family.type,
        "samples": [
            {
                "name": s.name,
                "labels": s.labels,
                "value": None if math.isnan(s.value) else s.value,
            }
            for s in family.samples
        ],
    }
json.dump(families, sys.stdout)
