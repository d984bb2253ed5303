/** Who is here (presence on the session's channel), and who is streaming now (the view's runs). */
export const Presence = ({ members, self }) => (
  <ul className="presence" data-testid="presence">
    {members.map((member) => (
      <li key={member.connectionId} data-testid="member" data-client-id={member.clientId}>
        <span className={`dot ${member.data?.role === 'agent' ? 'agent' : 'user'}`} /> {member.clientId}
        {member.clientId === self && ' (this device)'}
        {member.data?.status && <em> {member.data.status}</em>}
      </li>
    ))}
  </ul>
);

export const RunsIndicator = ({ runs, members, self }) => {
  const agentWorking = members.some((member) => member.data?.role === 'agent' && member.data?.status === 'working');
  return (
    <div className="runs" data-testid="runs" data-active={runs.length} data-agent={agentWorking ? 'working' : 'idle'}>
      {runs.length === 0 && <span>no reply in progress</span>}
      {runs.map((run) => (
        <span key={run.runId} data-testid="run" data-owner={run.clientId}>
          replying to {run.clientId === self ? 'this device' : run.clientId}…
        </span>
      ))}
      <span className="agent">agent {agentWorking ? 'working' : 'idle'}</span>
    </div>
  );
};
