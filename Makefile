# Two entry points for a new user: `make demo` and `make test`.
# Both create .venv on first use and install sonalyze into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint testdata clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sonalyze sample --jobanalyzer-dir testdata/tree --cluster alpha -f 2025-03-03 -t 2025-03-03 --host a-gpu1 --fmt=fixed,localtime,host,user,job,cmd,cpu%,gpus -q 'CpuPct > 150'
	$(BIN)/sonalyze sacct --jobanalyzer-dir testdata/tree --cluster beta -f 2025-03-03 -t 2025-03-03 --fmt=JobID,User,Account,State,Elapsed,ReqCPUS,ReqGPUS,rcpu,rmem
	$(BIN)/sonalyze node --jobanalyzer-dir testdata/tree --cluster beta -f 2025-03-03 -t 2025-03-05 --newest
	$(BIN)/sonalyze jobs --jobanalyzer-dir testdata/tree --cluster alpha -f 2025-03-03 -t 2025-03-03 -u - --min-cpu-avg 500
	$(BIN)/sonalyze load --jobanalyzer-dir testdata/tree --cluster alpha -f 2025-03-03 -t 2025-03-03 --host a-gpu1 --chart

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python tools/typecheck.py
	$(BIN)/python -m pytest

testdata: $(STAMP)
	rm -rf testdata/tree
	$(BIN)/python testdata/generate.py testdata/tree

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
