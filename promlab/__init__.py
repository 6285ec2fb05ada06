"""promlab: a hands-on Prometheus monitoring workbook."""
