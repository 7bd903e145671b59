# The one image of pipetune: the controller (`pipetune controller`, manifests/deployment.yaml),
# every catalog component (`pipetune step <name>`, components/*/task.yaml) and the metrics
# collector sidecar of File/TensorFlowEvent trials on a cluster (`pipetune collect`). It is not
# built or pushed by this repository's CI: no registry is reachable from it.
#   docker build -t pipetune/pipetune:0.1.0 .
FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY plugin plugin
COPY components components
# The sklearn extra: the catalog's example training components run in this image.
RUN pip install --no-cache-dir ".[sklearn]" && rm -rf /src
WORKDIR /
USER 65532:65532
ENTRYPOINT ["pipetune"]
