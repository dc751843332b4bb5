"""What a run tells people and systems while it is driven and after: notifications delivered
from its events, the ones it still owes, and the Alertmanager silences it keeps alive."""
