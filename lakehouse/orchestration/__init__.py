"""What Airflow needs from the platform, kept free of pyspark and of file reads so that
DAG files stay cheap to parse: the compiled plan (plan.py) and the task settings (dags.py)."""
