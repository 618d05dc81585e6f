"""python -m worker: start a worker on the queues WORKER_QUEUES names."""
import sys

from worker.main import main

sys.exit(main())
