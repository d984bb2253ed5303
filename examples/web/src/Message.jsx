/** One message; an assistant reply shows its run's status, a regenerate button and branch arrows. */
export const Message = ({ message, run, branch, onRegenerate }) => {
  const text = message.parts
    .filter((part) => part.type === 'text')
    .map((part) => part.text)
    .join('');
  const status = message.role === 'assistant' ? (run?.status ?? 'complete') : 'sent';
  return (
    <li className={`message ${message.role}`} data-testid="message" data-role={message.role} data-status={status}>
      <div className="text" data-testid="text">
        {text}
      </div>
      {message.role === 'assistant' && (
        <div className="meta">
          {status !== 'complete' && (
            <span className={`status ${status}`} data-testid="status">
              {status === 'active' ? 'streaming…' : status}
            </span>
          )}
          {branch?.hasSiblings && (
            <span className="branches" data-testid="branches">
              <button
                type="button"
                data-testid="branch-prev"
                disabled={branch.index === 0}
                onClick={() => branch.select(branch.index - 1)}
              >
                ‹
              </button>
              <span data-testid="branch-index">
                {branch.index + 1}/{branch.siblings.length}
              </span>
              <button
                type="button"
                data-testid="branch-next"
                disabled={branch.index === branch.siblings.length - 1}
                onClick={() => branch.select(branch.index + 1)}
              >
                ›
              </button>
            </span>
          )}
          {onRegenerate && (
            <button type="button" data-testid="regenerate" onClick={onRegenerate}>
              regenerate
            </button>
          )}
        </div>
      )}
    </li>
  );
};
