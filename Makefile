# talklab's two commands: `make lab` (set up and open the course) and `make test` (set up and run
# every test). Both work on a fresh machine: they create .venv, install talklab into it, and
# install the system packages the tests need (Node.js for the seed's own client).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT    := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get

.PHONY: lab test lint bench clean node-deps browser-deps coturn-deps redis-deps janus-deps janus-native \
	netlab-deps tshark-deps

# -- Python ------------------------------------------------------------------------------------
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { $(APT) update && $(APT) install -y python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml postBuild | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	PATH="$(CURDIR)/$(BIN):$$PATH" sh postBuild  # JupyterLab's settings for the course
	touch $@

# -- Node.js, for the seed's own client (tests/node) -------------------------------------------
node-deps:
	@command -v node >/dev/null && command -v npm >/dev/null || { $(APT) update && $(APT) install -y nodejs npm; }

tests/node/node_modules/.installed: tests/node/package.json tests/node/package-lock.json | node-deps
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# the seed's Node server and the load generator of bench/signaling_storm.py
bench/node/node_modules/.installed: bench/node/package.json bench/node/package-lock.json | node-deps
	cd bench/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# -- Debian's Chromium, the real browser of tests/test_chromium_page.py (Playwright drives it; it never
#    downloads a browser of its own) --------------------------------------------------------------
browser-deps:
	@command -v chromium >/dev/null || { $(APT) update && $(APT) install -y chromium; }

# -- coturn: a real TURN server and real STUN/TURN clients to test talklab's against ------------
coturn-deps:
	@command -v turnserver >/dev/null && command -v turnutils_uclient >/dev/null || \
		{ $(APT) update && $(APT) install -y coturn; }

# -- tshark (Wireshark's command line), to read talklab's captures as Wireshark would
#    (tests/test_capture.py); noninteractive: non-root users are not allowed to capture ----------
tshark-deps:
	@command -v tshark >/dev/null || { $(APT) update && $(APT) install -y tshark; }

# -- Redis, for several signaling servers sharing one set of rooms (tests/test_redis.py) --------
redis-deps:
	@command -v redis-server >/dev/null || { $(APT) update && $(APT) install -y redis-server; }

# -- the network lab: real Linux NATs in network namespaces (talklab/netlab, tests/test_netlab.py)
netlab-deps:
	@command -v ip >/dev/null && command -v nft >/dev/null || \
		{ $(APT) update && $(APT) install -y iproute2 nftables; }

# -- Janus: a real WebRTC server (SFU: VideoRoom, MCU: AudioBridge), and the small C library
#    that keeps it on loopback (talklab/janus/loopback.py says why) ------------------------------
janus-deps:
	@command -v janus >/dev/null || { $(APT) update && $(APT) install -y janus; }

JANUS_GUARD := talklab/janus/native/libtalklab_loopback.so
$(JANUS_GUARD): talklab/janus/native/loopback_ifaddrs.c
	$(CC) -shared -fPIC -O2 -Wall -Wextra -o $@ $< -ldl

janus-native: $(JANUS_GUARD)

# -- the two commands --------------------------------------------------------------------------
lab: $(VENV)/.installed
	$(BIN)/jupyter lab --notebook-dir=notebooks --LabApp.extension_manager=readonly \
		$(if $(SUDO),,--allow-root)

# ruff and mypy first (their configuration, and why each rule or ignore, is in pyproject.toml)
lint: $(VENV)/.installed
	$(BIN)/ruff check talklab server tests bench
	$(BIN)/mypy

# three workers on two cores, a file each at a time; tests/parallel.py says why three, which tests
# have the machine to themselves and which files run together (tests/conftest.py applies it).
# Bytecode is written (into the ignored __pycache__ folders) even where the environment says
# not to (PYTHONDONTWRITEBYTECODE): each worker, kernel and server would compile talklab and
# the tests again, 4 s of each worker's collection.
# `make test PYTEST_ARGS=--durations=0` prints where the time went (tests/durations.py sums it)
test: lint $(VENV)/.installed tests/node/node_modules/.installed \
		bench/node/node_modules/.installed browser-deps coturn-deps redis-deps janus-deps janus-native \
		netlab-deps tshark-deps
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n 3 --dist loadfile $(PYTEST_ARGS)

bench: $(VENV)/.installed bench/node/node_modules/.installed redis-deps
	$(BIN)/python bench/signaling_storm.py
	$(BIN)/python bench/mesh_cpu.py
	$(BIN)/python bench/fuzz_servers.py

clean:
	rm -rf $(VENV) tests/node/node_modules bench/node/node_modules .pytest_cache .mypy_cache .ruff_cache
	rm -f $(JANUS_GUARD)
