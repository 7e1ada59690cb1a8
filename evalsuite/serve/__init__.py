"""The reward service for online RL: any judge behind HTTP, with dynamic batching.

``evalsuite serve --judge <name>`` runs :func:`evalsuite.serve.app.create_app` on uvicorn
(or on Ray Serve replicas with ``--ray``); :mod:`evalsuite.client` calls it. Group rewards
(Pref-GRPO win rate, Flow-GRPO z-scores) are in :mod:`evalsuite.serve.rewards`.
FastAPI, uvicorn and prometheus_client come with the ``serve`` extra and are imported only
when the app is built.
"""
