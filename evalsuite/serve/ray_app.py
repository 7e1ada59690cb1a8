"""Scale-out on Ray Serve: the same app (:func:`evalsuite.serve.app.create_app`) in N replicas.

Each replica builds the app in its own process (``__serve_build_asgi_app__``), so judges load
once per replica, on its own GPU when ``num_gpus`` is set; Ray's proxy spreads requests over
the replicas and each replica batches what it receives. Requires the ``serve-ray`` extra.
"""

from __future__ import annotations

from typing import Any

from ray import serve

from evalsuite.serve.config import ServeConfig

APP_NAME = "evalsuite-reward"


@serve.ingress()
class RewardReplica:
    def __init__(self, cfg: ServeConfig):
        self.cfg = cfg

    def __serve_build_asgi_app__(self):
        from evalsuite.serve.app import create_app
        return create_app(self.cfg)


def deploy(cfg: ServeConfig, host: str = "127.0.0.1", port: int = 8000, replicas: int = 1,
           num_gpus: float = 0.0, num_cpus: float = 1.0, address: str | None = None,
           blocking: bool = True, ray_init: dict[str, Any] | None = None):
    """Start (or join, ``address``) a Ray cluster and serve the app on ``host:port``.

    ``max_ongoing_requests`` per replica is the batcher's queue bound, so Ray does not cap a
    replica's concurrency below what dynamic batching can use (Ray's default is 5).
    """
    import ray

    if not ray.is_initialized():
        ray.init(address=address, **(ray_init or {}))
    serve.start(http_options={"host": host, "port": port})
    actor = {"num_gpus": num_gpus, "num_cpus": num_cpus}
    dep = serve.deployment(RewardReplica, name="RewardReplica", num_replicas=replicas,
                           ray_actor_options=actor, max_ongoing_requests=cfg.max_queue)
    handle = serve.run(dep.bind(cfg), name=APP_NAME, route_prefix="/")
    if not blocking:
        return handle
    # Serve until SIGINT / SIGTERM, then take the replicas (and a local cluster) down.
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    shutdown()
    return None


def shutdown() -> None:
    import ray

    serve.shutdown()
    ray.shutdown()
