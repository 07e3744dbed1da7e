# Stand-in for python:3.11-slim where no registry is reachable: Debian bookworm's Python 3.11 in a venv on the
# local base image (deploy/local/build-base.sh), so `python` and `pip install` work as in the official image.
ARG BASE_IMAGE=thoibinh/bookworm:base
FROM ${BASE_IMAGE}
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /usr/local/python \
 && /usr/local/python/bin/pip install --quiet --no-cache-dir --upgrade pip
ENV PATH=/usr/local/python/bin:$PATH LANG=C.UTF-8
CMD ["python3"]
