"""dbt-gainsight: sync dbt models to Gainsight from inside the dbt project."""

__version__ = "0.1.0"
