/// The stable `error.code` of a failed reply; clients branch on these, never on messages.
public enum ErrorCode: String, Codable, Sendable, CaseIterable {
    /// The line is not JSON, not an object, or a field is missing or of the wrong type.
    case badRequest = "bad_request"
    /// `op` names no operation.
    case unknownOp = "unknown_op"
    /// `model` names no model.
    case unknownModel = "unknown_model"
    /// A command's `type` is not one of the model's commands.
    case unknownCommand = "unknown_command"
    /// `projection` names no projection the daemon keeps.
    case unknownProjection = "unknown_projection"
    /// `id` is empty, too long or holds control characters.
    case invalidID = "invalid_id"
    /// The model refused the command; `message` is its reason. Nothing was written.
    case rejected
    /// The request's `expect` did not match the aggregate's version. Nothing was written.
    case wrongVersion = "wrong_version"
    /// The line or the resulting record exceeds a limit.
    case tooLarge = "too_large"
    /// The aggregate's log is damaged; other aggregates are unaffected.
    case corrupt
    /// The daemon cannot serve this now (shutting down, too many connections, storage refused
    /// the write and rolled it back). Nothing was written; retrying later is safe.
    case unavailable
    /// Storage failed while making the command durable: it may or may not have been recorded.
    /// Read the aggregate after the daemon restarts to find out.
    case outcomeUnknown = "outcome_unknown"
    /// A subscriber read more slowly than events were committed and was disconnected; the error's
    /// `resume_from` is the position to subscribe from again to continue without a gap.
    case fellBehind = "fell_behind"
    /// (subscriptions only) Retention (`--retain-global`) dropped the positions asked for; the
    /// error's `earliest` is the first position the global log still holds.
    case positionDropped = "position_dropped"
    /// The request's `command_id` was accepted before, on this aggregate, for a different command
    /// chain. Nothing was written; use a fresh id for a new command.
    case commandIDReused = "command_id_reused"
    /// The aggregate's model, a program loaded at run time (a Lua model), failed: it ran out of
    /// its instruction budget or memory, raised an error, or returned malformed events or state.
    /// Nothing was written and the aggregate is unchanged; the message says which and where.
    case modelFailed = "model_failed"
    /// (`models` with `"reload": true`) A model file did not load: nothing was reloaded and the
    /// models served before are served still. The message names the file and what is wrong.
    case reloadRefused = "reload_refused"
    /// The connecting user is not in the daemon's allow-list (`--allow-uid`, `--allow-gid`).
    case forbidden
    /// A bug in sourced; please report it.
    case `internal`
}
