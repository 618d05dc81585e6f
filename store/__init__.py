"""The data layer under the web app, the workers and the Lambdas: the tables, the
stores that change them (one conditional statement each, never a commit), the
accounts, and sessions that need no web framework."""
