"""What the web app, the schedules and the Lambdas ask of the job system: submit a
job (once), start an import from an upload. Each operation commits its own unit
of work; the queue is reached through an ``Enqueuer`` passed in."""
