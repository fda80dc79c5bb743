#!/bin/sh
# Type-check the tests (tests/mypy.ini says why one run per tier). Usage: tests/typecheck.sh [mypy]
set -e
MYPY=$(realpath "${1:-$(command -v mypy)}")  # absolute: the runs below are from tests/
cd "$(dirname "$0")"
MYPYPATH=.:service $MYPY --config-file mypy.ini service
MYPYPATH=.:system $MYPY --config-file mypy.ini system
MYPYPATH=. $MYPY --config-file mypy.ini kit
MYPYPATH=. $MYPY --config-file mypy.ini unit conftest.py openapi_checks.py support
