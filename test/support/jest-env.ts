// Quiet logs during tests unless asked for (LOG_LEVEL=debug npm test); set before any logger is created.
process.env.LOG_LEVEL ??= 'error';
