"""Apache Spark as the second engine."""
