"""``f4d serve``: a trained model behind an HTTP API and a web page.

Modules, one job each:

- :mod:`~f4d.serve.errors`: the JSON error every refusal answers with, and plain-word
  messages for undecodable videos (never a traceback or a server path);
- :mod:`~f4d.serve.files`: the private temp folder (uploads under generated names, explain
  files that expire);
- :mod:`~f4d.serve.worker`: the bounded queue, the decode threads and the model thread that
  batches requests (inference never runs on the event loop);
- :mod:`~f4d.serve.app`: the FastAPI app (``POST /v1/predict``, ``GET /v1/model``,
  ``GET /healthz``, the page at ``/``) and its JSON schemas;
- :mod:`~f4d.serve.load`: a load generator for a live server (tests and benchmarks).

The numbers come from :mod:`f4d.engine.predict`, the code behind ``f4d predict``.
"""
