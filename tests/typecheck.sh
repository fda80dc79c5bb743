#!/bin/sh
# Type-check the tests (tests/mypy.ini says why one run per tier). Usage: tests/typecheck.sh [mypy]
set -e
MYPY=${1:-mypy}
cd "$(dirname "$0")"
MYPYPATH=.:service $MYPY --config-file mypy.ini service
MYPYPATH=.:system $MYPY --config-file mypy.ini system
MYPYPATH=.:kit $MYPY --config-file mypy.ini kit/*.py
MYPYPATH=. $MYPY --config-file mypy.ini unit conftest.py polling.py openapi_checks.py support
