"""Running a task in parallel threads, each with its own PostgreSQL connection and transaction; a barrier
releases them together so that they really contend for the same rows."""

import threading

from django.db import connection, connections

PARALLEL = 50


def run_in_parallel(task, count: int = PARALLEL) -> list:
    assert connection.vendor == "postgresql"
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = task()
        except Exception as error:  # the outcome under test may be a refusal
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results
