"""Sales forecast (issue 4): weighted pipeline by month from learned stage-to-won conversion and
time-to-close, with commit / best case / pipeline categories and a backtest on history."""
